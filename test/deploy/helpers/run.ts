/**
 * Running what the container runs, without a container engine: `jobq <command>` as a child process
 * with a container's environment (test/chaos/helpers/procs.ts), and a container's exec-form health
 * check, its `node` being the Node 22 the image has (the `node` devDependency).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { ProcessGroup, type JobqProcess } from '../../chaos/helpers/procs.ts';

export const NODE_22 = path.resolve('node_modules/node/bin/node');

/**
 * `jobq <command>` with `env` (a container's environment) and these test-only changes: ports 0 (the
 * OS picks), the data folder a temporary one, DATABASE_URL the test's database. Killed after the test.
 */
export function startJobq(command: string, env: Record<string, string>, databaseUrl: string): JobqProcess {
  const group = new ProcessGroup();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'jobq-deploy-'));
  after(async () => {
    await group.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const test = { DATABASE_URL: databaseUrl, JOBQ_DATA_DIR: dataDir, ...(env.PORT ? { PORT: '0' } : {}), ...(env.JOBQ_METRICS_PORT ? { JOBQ_METRICS_PORT: '0' } : {}) };
  return group.start(command, [command], { ...env, ...test });
}

/** Runs an exec-form health check (`["node", "-e", ...]`) here with `env`; resolves with its exit code. */
export function runCheck(command: string[], env: Record<string, string>): Promise<number | null> {
  const [file, ...args] = command;
  const child = spawn(file === 'node' ? NODE_22 : file!, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  return new Promise((resolve, reject) => child.on('error', reject).on('exit', (code) => resolve(code)));
}

/** SIGTERM (the image's STOPSIGNAL), then the exit. */
export async function stop(p: JobqProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  p.child.kill('SIGTERM');
  return p.exited;
}
