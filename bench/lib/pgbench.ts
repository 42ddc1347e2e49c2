/**
 * What PostgreSQL itself allows for jobq's claim-and-finish work: pgbench with 10 clients running the
 * scripts in bench/pgbench/ against jobq's own schema (migrated into a database of its own), on N queued rows.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/queue/migrate.ts';
import { connectionParts, createDatabase, dropDatabase, type Server } from './infra.ts';
import type { Options } from './options.ts';
import type { Results } from './report.ts';
import { BENCH_DIR } from './runs.ts';

export const PGBENCH = '/usr/bin/pgbench';
export const SCRIPTS = {
  batched: 'claim_finish_batched.sql',
  perJob: 'claim_finish_per_job.sql',
} as const;
export type ScriptName = keyof typeof SCRIPTS;

const CLIENTS = 10;
const CLAIM = 50;

export interface PgbenchSession {
  /** Rows claimed and finished per second by one run of the script over `jobs` queued rows. */
  run(script: ScriptName, jobs: number): Promise<number>;
  close(): Promise<void>;
}

export async function openPgbench(adminUrl: string): Promise<PgbenchSession | string> {
  if (!existsSync(PGBENCH)) return `${PGBENCH} is not installed`;
  const name = 'bench_pgbench';
  const url = await createDatabase(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  await migrate(pool);
  const conn = connectionParts(url);
  return {
    async run(script, jobs) {
      await pool.query('TRUNCATE jobq.jobs');
      await pool.query(
        `INSERT INTO jobq.jobs (id, kind, payload) SELECT gen_random_uuid(), 'bench_noop', '{}' FROM generate_series(1, $1::int)`,
        [jobs],
      );
      await pool.query('VACUUM (ANALYZE) jobq.jobs');
      const perClient = Math.ceil(jobs / CLAIM / CLIENTS);
      const args = ['-n', '-M', 'prepared', '-f', path.join(BENCH_DIR, 'pgbench', SCRIPTS[script]), '-c', String(CLIENTS), '-j', '2', '-t', String(perClient),
        '-h', conn.host, '-p', conn.port, '-U', conn.user, conn.database];
      const out = await exec(PGBENCH, args, conn.password);
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
      const txns = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
      if (!(tps > 0) || !(txns > 0)) throw new Error(`pgbench printed no tps:\n${out.slice(-1500)}`);
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.jobs WHERE status = 'succeeded'`);
      return rows[0]!.n / (txns / tps);
    },
    async close() {
      await pool.end();
      await dropDatabase(adminUrl, name);
    },
  };
}

function exec(cmd: string, args: string[], password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...(password ? { PGPASSWORD: password } : {}) };
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}:\n${out.slice(-1500)}`))));
  });
}

/** Both scripts, `--reps` times each, into `results.figures.pgbench` (skipped with a note when pgbench is missing). */
export async function runPgbench(server: Server, o: Options, results: Results, log: (m: string) => void): Promise<void> {
  const figures = (results.figures.pgbench ??= {});
  const session = await openPgbench(server.url).catch((err: unknown) => `failed: ${(err as Error).message}`);
  if (typeof session === 'string') {
    results.notes.push(`pgbench skipped: ${session}`);
    log(`pgbench skipped: ${session}`);
    return;
  }
  try {
    for (const script of ['batched', 'perJob'] as const) {
      const key = `pgbench.${script}`;
      try {
        for (let rep = 1; rep <= o.reps; rep++) {
          const v = await session.run(script, o.jobs);
          (figures[key] ??= { unit: 'jobs/s', values: [], median: null }).values.push(v);
          log(`pgbench ${script} rep ${rep}/${o.reps}: ${Math.round(v).toLocaleString('en-US')} jobs/s`);
        }
      } catch (err) {
        (figures[key] ??= { unit: 'jobs/s', values: [], median: null }).error = (err as Error).message.split('\n')[0]!;
        log(`pgbench ${script}: FAILED ${(err as Error).message}`);
      }
    }
  } finally {
    await session.close();
  }
}
