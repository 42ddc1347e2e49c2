/**
 * The `jobq` command in tests: a real service to talk to (API and worker in this process, on a fresh
 * database, port 0), the operator commands run in-process with captured output, and the whole CLI
 * as a child process (`node --import tsx src/cli.ts`) for exit codes.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after } from 'node:test';
import { Type } from '@sinclair/typebox';
import { Command } from 'commander';
import { runCommand } from '../../src/cli/exit.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { addOpsCommands } from '../../src/cli/ops.ts';
import { addQueueCommands } from '../../src/cli/queues.ts';
import { addScheduleCommands } from '../../src/cli/schedules.ts';
import { addWatchCommand } from '../../src/cli/watch.ts';
import { type Config, resolveConfig } from '../../src/config.ts';
import { PermanentError } from '../../src/kinds/registry.ts';
import { type Service, startService } from '../../src/server.ts';
import { freshDatabase, testKinds } from './db.ts';
import { silent } from './worker.ts';

export const CLI = path.resolve('src/cli.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * jobq serving its API and a worker on a fresh database, stopped after the calling test (or file).
 * Kinds: the built-in ones, plus `fail`, which fails at once for good with its payload's `message`.
 */
export async function startJobq(config: Partial<Config> = {}): Promise<{ url: string; service: Service }> {
  let service: Service | undefined;
  after(() => service?.stop()); // registered before the database's own hook: the service stops first
  const db = await freshDatabase();
  const kinds = testKinds().register({
    name: 'fail',
    payloadSchema: Type.Object({ message: Type.String() }),
    handler: (p) => {
      throw new PermanentError(p.message);
    },
  });
  const resolved = resolveConfig({ databaseUrl: db.url, listenUrl: db.listenUrl, host: '127.0.0.1', port: 0, migrate: false, shutdownGraceMs: 1_000, ...config }, {});
  service = await startService(resolved, silent, { api: true, worker: true, kinds });
  return { url: service.url!, service };
}

/** Runs an operator command (`jobq <args>`) in this process; `tty` makes output a terminal's. */
export async function jobq(args: string[], opts: { stdin?: string; tty?: boolean } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (t) => (stdout += t),
    err: (t) => (stderr += t),
    isTTY: opts.tty ?? false,
    readStdin: async () => opts.stdin ?? '',
  };
  const program = new Command('jobq');
  addOpsCommands(program, io);
  addQueueCommands(program, io);
  addScheduleCommands(program, io);
  addWatchCommand(program, io);
  const code = await runCommand(program, ['node', 'jobq', ...args], io);
  return { code, stdout, stderr };
}

/** Runs `jobq <args>` as a child process (never synchronously: the service it talks to may be in this process). */
export function jobqProcess(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...withoutClientSettings(process.env), ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(opts.stdin ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
}

function withoutClientSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { JOBQ_URL: _url, JOBQ_API_KEY: _key, ...rest } = env;
  return rest;
}

/** The JSON lines of an output, parsed. */
export const lines = <T = any>(out: string): T[] => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
