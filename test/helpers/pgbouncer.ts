/**
 * A real PgBouncer (Debian's `pgbouncer` package) in transaction pooling mode, in front of a PostgreSQL
 * the caller names: for the test suite's pooled pass (helpers/run-tests.ts), the chaos scenarios that
 * run through it, and the fleet bench. Started as a child process with a config of its own in a
 * temporary folder; `stop()` ends it by its PID.
 *
 * Every database of the server is reachable through it (`* =`), as the same user, with no password
 * (trust, as the test servers are); `admin_users` lets that user read `SHOW POOLS` on the `pgbouncer`
 * console.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PGBOUNCER_BIN = process.env.JOBQ_PGBOUNCER ?? '/usr/sbin/pgbouncer';

export interface PgBouncer {
  /** `url` with its host and port replaced by PgBouncer's. */
  pooled(url: string): string;
  host: string;
  port: number;
  pid: number;
  /** The admin console's URL (database `pgbouncer`). */
  adminUrl: string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Any URL of the server to front: its host (or socket folder), port and user are taken. */
  serverUrl: string;
  /** Where PgBouncer listens. Default 127.0.0.1 and a free port below the ephemeral range. */
  listenHost?: string;
  port?: number;
  /** Server connections per database and user. Default 20 (PgBouncer's default). */
  poolSize?: number;
  maxClientConn?: number;
}

/** Whether the binary is there; `why` says what to do when not. */
export function pgbouncerAvailable(): { ok: true } | { ok: false; why: string } {
  if (existsSync(PGBOUNCER_BIN)) return { ok: true };
  return { ok: false, why: `PgBouncer is not installed (${PGBOUNCER_BIN}): apt-get install pgbouncer, or set JOBQ_PGBOUNCER to its binary` };
}

export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  const available = pgbouncerAvailable();
  if (!available.ok) throw new Error(available.why);
  const server = new URL(opts.serverUrl);
  // A unix socket folder arrives as ?host=/path (the embedded server's URL); else the URL's host.
  const serverHost = server.searchParams.get('host') ?? (server.hostname === 'localhost' ? '127.0.0.1' : server.hostname);
  const serverPort = Number(server.searchParams.get('port') ?? server.port ?? 5432) || 5432;
  const user = decodeURIComponent(server.username || 'postgres');
  const listenHost = opts.listenHost ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(listenHost));

  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-pgbouncer-'));
  chmodSync(dir, 0o777); // as root, PgBouncer runs as the postgres user (-u), which must write its log and pid here
  const ini = path.join(dir, 'pgbouncer.ini');
  const users = path.join(dir, 'users.txt');
  const logFile = path.join(dir, 'pgbouncer.log');
  writeFileSync(users, `"${user}" ""\n`);
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${serverHost} port=${serverPort}`,
      '[pgbouncer]',
      `listen_addr = ${listenHost}`,
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      `admin_users = ${user}`,
      'pool_mode = transaction',
      `default_pool_size = ${opts.poolSize ?? 20}`,
      `max_client_conn = ${opts.maxClientConn ?? 2000}`,
      `logfile = ${logFile}`,
      `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
      // Quiet: a test run opens and closes thousands of client connections.
      'log_connections = 0',
      'log_disconnections = 0',
      // A database dropped by a test: its pool is retried quickly, not after 15 s.
      'server_login_retry = 1',
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  const args = [...(asRoot ? ['-u', 'postgres'] : []), ini];
  const child: ChildProcess = spawn(PGBOUNCER_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(listenHost, port, child, () => `${stderr}${readLog(logFile)}`);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pooled = (url: string) => {
    const u = new URL(url);
    u.searchParams.delete('host');
    u.searchParams.delete('port');
    u.hostname = listenHost;
    u.port = String(port);
    if (!u.username) u.username = user;
    return u.toString();
  };
  let stopped = false;
  return {
    pooled,
    host: listenHost,
    port,
    pid: child.pid!,
    adminUrl: pooled(`postgres://${encodeURIComponent(user)}@${listenHost}:${port}/pgbouncer`),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM'); // immediate shutdown (SIGINT would wait for clients)
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PgBouncer's version line, for logs ("PgBouncer 1.18.0"). */
export function pgbouncerVersion(): string {
  const out = spawnSync(PGBOUNCER_BIN, ['--version'], { encoding: 'utf8' });
  return (out.stdout || out.stderr || '').split('\n')[0]!.trim();
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-2_000);
  } catch {
    return '';
  }
}

/** A free TCP port in 20000-29999 (outside the ephemeral range, where a client's port could take it). */
async function freePort(host: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port for PgBouncer');
}

async function waitForPort(host: string, port: number, child: ChildProcess, why: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PgBouncer exited with code ${child.exitCode}: ${why()}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host).once('connect', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`PgBouncer did not listen on ${host}:${port} within 10 s: ${why()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
