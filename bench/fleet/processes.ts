/**
 * Processes of the fleet, each started in its namespace with `ip netns exec` (which execs, so the PID
 * we hold is the program's own: its CPU is read from /proc/<pid>/stat): `jobq worker` and `jobq api`
 * as a user runs them (`node --import tsx src/cli.ts …`, settings by environment), and the load
 * generator. They log at warn (info would log every job), so readiness is asked from outside by the
 * caller's `ready` probe (an API's /readyz; a worker's registration and LISTEN connection). Log lines
 * at warn and above are counted (level 40 warn, 50+ error) and the first few kept.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Host } from './network.ts';
import type { LoadResult, LoadSpec } from './loadgen.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface FleetProcess {
  role: 'worker' | 'api';
  host: Host;
  pid: number;
  /** For an API: http://<address>:<port> */
  url?: string;
  warnings: number;
  errors: number;
  samples: string[];
  exitCode(): number | null;
  stop(): Promise<void>;
}

/** Environment without the caller's jobq and PG settings: each process gets only what the fleet sets. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JOBQ_') && !k.startsWith('PG') && k !== 'DATABASE_URL'));
}

export const API_PORT = 38080;

/** Children still running, killed if this process exits without stopping them (a crash, a signal). */
const running = new Set<ChildProcess>();
process.on('exit', () => killAll());
/** Ends every fleet process still running at once (SIGKILL): for a run that is being abandoned. */
export function killAll(): void {
  running.forEach((c) => c.kill('SIGKILL'));
}
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

export function startJobq(role: 'worker' | 'api', host: Host, env: Record<string, string>, ready: (p: FleetProcess) => Promise<boolean>): Promise<FleetProcess> {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', host.ns, process.execPath, '--import', 'tsx', 'src/cli.ts', role], {
    cwd: ROOT,
    env: {
      ...cleanEnv(),
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      ...(role === 'api' ? { HOST: host.address, PORT: String(API_PORT), JOBQ_INSECURE: 'true', JOBQ_UI: 'false' } : {}),
      JOBQ_MIGRATE: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: FleetProcess = {
    role,
    host,
    pid: child.pid!,
    url: role === 'api' ? `http://${host.address}:${API_PORT}` : undefined,
    warnings: 0,
    errors: 0,
    samples: [],
    exitCode: () => child.exitCode,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
  track(child);
  const onLine = (line: string) => {
    let rec: { level?: number; msg?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      rec = { level: 50, msg: line };
    }
    if ((rec.level ?? 0) >= 50) proc.errors++;
    else if ((rec.level ?? 0) >= 40) proc.warnings++;
    else return;
    if (proc.samples.length < 5) proc.samples.push(line.slice(0, 300));
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${role} in ${host.ns} not ready within 90 s: ${proc.samples.join(' | ')}`)), 90_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      void proc.stop().then(() => reject(err));
    };
    child.once('exit', (code) => fail(new Error(`${role} in ${host.ns} exited with ${code} at start: ${proc.samples.join(' | ')}`)));
    void (async () => {
      while (child.exitCode === null) {
        if (await ready(proc).catch(() => false)) {
          clearTimeout(timer);
          return resolve(proc);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
  });
}

/** Runs the load generator in `host` and returns what it printed. */
export function runLoad(host: Host, spec: LoadSpec): { pid: number; done: Promise<LoadResult> } {
  const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, '--import', 'tsx', 'bench/fleet/loadgen.ts'], {
    cwd: ROOT,
    env: { ...cleanEnv(), FLEET_LOAD: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2_000)));
  const done = new Promise<LoadResult>((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
      } catch {
        reject(new Error(`load generator printed no result: ${out.slice(0, 200)} ${err}`));
      }
    });
  });
  return { pid: child.pid!, done };
}
