/**
 * What the bench runs on: one PostgreSQL (DATABASE_URL, else jobq's embedded one in a temp dir), a
 * database per system, the bench's own redis-server, free loopback ports, and a description of the machine.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

export interface Server {
  /** Admin URL (database `postgres`). */
  url: string;
  embedded: boolean;
  version: string;
  settings: Record<string, string>;
  stop(): Promise<void>;
}

export async function startPostgres(log: (m: string) => void): Promise<Server> {
  const given = process.env.DATABASE_URL?.trim();
  let url: string;
  let stop = async () => {};
  if (given) {
    url = given;
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jobq-bench-'));
    await chmod(dir, 0o755); // the postgres user must reach <dir>/pg
    const pgServer = await startEmbeddedPostgres({ dataDir: dir, log });
    url = pgServer.url;
    stop = async () => {
      await pgServer.stop();
      await rm(dir, { recursive: true, force: true });
      if (!pgServer.pgData.startsWith(dir)) await rm(pgServer.pgData, { recursive: true, force: true });
    };
  }
  const c = new pg.Client(url);
  await c.connect();
  const { rows } = await c.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN
       ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'wal_level', 'autovacuum')`,
  );
  // The postmaster is our backend's parent (when the server runs on this machine and /proc shows it).
  const backendPid = Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
  const postmaster = parentOf(backendPid);
  if (postmaster > 1) serverRoots.add(postmaster);
  await c.end();
  const settings = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  return { url, embedded: !given, version: settings.server_version ?? '?', settings, stop };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function adminQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh database for one system; returns its URL. A leftover of an interrupted run is replaced. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  return withDatabase(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** Host, port, user and password of a URL, for pgbench (which takes no URL with a socket host). */
export function connectionParts(url: string): { host: string; port: string; user: string; password: string; database: string } {
  const u = new URL(url);
  return {
    host: u.searchParams.get('host') ?? (u.hostname || 'localhost'),
    port: u.searchParams.get('port') ?? (u.port || '5432'),
    user: decodeURIComponent(u.username) || 'postgres',
    password: decodeURIComponent(u.password),
    database: u.pathname.replace(/^\//, '') || 'postgres',
  };
}

/** The first port of `from..from+49` that 127.0.0.1 can listen on (outside the ephemeral range). */
export async function freePort(from: number): Promise<number> {
  for (let port = from; port < from + 50; port++) {
    const ok = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error(`no free port in ${from}..${from + 49}`);
}

export interface Redis {
  url: string;
  version: string;
  stop(): Promise<void>;
}

export const REDIS_SERVER = '/usr/bin/redis-server';

/** The bench's own redis-server on 127.0.0.1 (AOF everysec, no RDB snapshots), or undefined when not installed. */
export async function startRedis(): Promise<Redis | undefined> {
  if (!existsSync(REDIS_SERVER)) return undefined;
  const version = /v=(\S+)/.exec(spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
  const port = await freePort(16380);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jobq-bench-redis-'));
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];
  const child: ChildProcess = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid) serverRoots.add(child.pid);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start: ${output.trim().split('\n').slice(-5).join('\n')}`);
    }
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    version,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(500);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Machine {
  /** 1-minute load average when the bench started: above ~0.5 something else was running. */
  loadAtStart: number;
  cores: number;
  cpu: string;
  ramGiB: number;
  os: string;
  node: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  let osName = `${os.type()} ${os.release()}`;
  try {
    osName = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    // not Linux
  }
  return {
    loadAtStart: Math.round(os.loadavg()[0]! * 100) / 100,
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? '?',
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: osName,
    node: process.version,
  };
}

/** Version of an installed package, read from its package.json. */
export function packageVersion(name: string): string {
  try {
    const file = path.join(process.cwd(), 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU time (user + system, ms) of each given process, from /proc; missing processes count 0. */
export function cpuMsOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    } catch {
      // gone, or no /proc
    }
  }
  return total;
}

/** The bench's database servers (postmaster, redis-server), whose processes and direct children are counted. */
export const serverRoots = new Set<number>();

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** PIDs of the bench's own database server processes (PostgreSQL postmaster and backends, Redis). */
export function serverPids(): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const e of entries) {
    try {
      const pid = Number(e);
      if (serverRoots.has(pid) || serverRoots.has(parentOf(pid))) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
