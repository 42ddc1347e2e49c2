/**
 * What the storage study measures with: a candidate's own database, pgbench runs of its scripts, and
 * the server's CPU time and WAL written across a run.
 *
 * Server CPU counts the live server processes' time plus what the postmaster has reaped from its
 * exited children (`cutime`/`cstime` in /proc/<pid>/stat): pgbench's backends exit when it ends, and
 * their time would otherwise be lost.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { migrate } from '../../src/queue/migrate.ts';
import { connectionParts, createDatabase, serverPids, serverRoots } from '../lib/infra.ts';
import type { StorageCandidate } from './candidate.ts';

export const PGBENCH = '/usr/bin/pgbench';
/** Jobs one claim takes in the pgbench scripts (jobq's worker takes about this many at concurrency 10-50). */
export const BATCH = 50;

/** A candidate's database, migrated and set up, with one connection of the runner's. */
export interface CandidateDb {
  url: string;
  c: pg.Client;
  close(): Promise<void>;
}

/** A fresh database of the candidate's own on the server of `adminUrl` (`jobq_storage_<name>`). */
export async function openCandidateDb(adminUrl: string, cand: StorageCandidate): Promise<CandidateDb> {
  return prepareCandidateDb(await createDatabase(adminUrl, `jobq_storage_${cand.name}`), cand);
}

/** The empty (or jobq-migrated) database at `url`, made the candidate's: jobq's migrations, then its setup. */
export async function prepareCandidateDb(url: string, cand: StorageCandidate): Promise<CandidateDb> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  const c = new pg.Client(url);
  await c.connect();
  if (cand.setupSql) await c.query(readFileSync(cand.setupSql, 'utf8'));
  await c.query('CREATE TABLE IF NOT EXISTS jobq.bench_ids (i int PRIMARY KEY, id uuid NOT NULL)');
  return { url, c, close: () => c.end() };
}

/** Fills jobq.bench_ids with up to `n` ids of `sql`, in random order; returns how many. */
export async function sampleIds(c: pg.ClientBase, sql: string, n: number): Promise<number> {
  await c.query('TRUNCATE jobq.bench_ids');
  const { rowCount } = await c.query(
    `INSERT INTO jobq.bench_ids (i, id) SELECT row_number() OVER (), id FROM (SELECT id FROM (${sql}) s ORDER BY random() LIMIT $1) r`,
    [n],
  );
  await c.query('ANALYZE jobq.bench_ids');
  return rowCount ?? 0;
}

/** Server CPU (ms) so far: live server processes plus the children the postmaster reaped. */
export function serverCpuMs(): number {
  let total = 0;
  for (const pid of serverPids()) total += stat(pid, serverRoots.has(pid));
  return total;
}

function stat(pid: number, withChildren: boolean): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
    return ticks * 10; // USER_HZ 100
  } catch {
    return 0;
  }
}

export async function walBytes(c: pg.ClientBase): Promise<number> {
  const { rows } = await c.query<{ lsn: string }>(`SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS lsn`);
  return Number(rows[0]!.lsn);
}

export interface PgbenchOptions {
  clients: number;
  /** Transactions per client, or seconds (`seconds`). */
  transactions?: number;
  seconds?: number;
  /** Transactions per second in all (pgbench -R); unthrottled when absent. */
  rate?: number;
  /** Print progress every this many seconds (-P): `onProgress` gets each line. */
  progressS?: number;
  onProgress?: (line: string) => void;
  vars?: Record<string, string | number>;
  /** Report each statement's average latency (-r): `statementMs`, in the script's order. */
  statements?: boolean;
}

export interface PgbenchResult {
  transactions: number;
  tps: number;
  /** Seconds the run took (transactions / tps). */
  seconds: number;
  latencyMs: number;
  /** With `statements`: each statement's average latency (ms), in the script's order. */
  statementMs?: number[];
}

export async function pgbench(url: string, script: string, o: PgbenchOptions): Promise<PgbenchResult> {
  const conn = connectionParts(url);
  const args = ['-n', '-M', 'prepared', '-f', script, '-c', String(o.clients), '-j', String(Math.min(2, o.clients))];
  if (o.transactions !== undefined) args.push('-t', String(o.transactions));
  if (o.seconds !== undefined) args.push('-T', String(o.seconds));
  if (o.rate !== undefined) args.push('-R', String(o.rate));
  if (o.progressS !== undefined) args.push('-P', String(o.progressS));
  if (o.statements) args.push('-r');
  for (const [k, v] of Object.entries({ batch: BATCH, nids: 1, ...o.vars })) args.push('-D', `${k}=${v}`);
  args.push('-h', conn.host, '-p', conn.port, '-U', conn.user, conn.database);
  const out = await run(PGBENCH, args, conn.password, o.onProgress);
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1]);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1]);
  if (!(tps > 0) || !(transactions > 0)) throw new Error(`pgbench printed no tps:\n${out.slice(-1500)}`);
  const statementMs = o.statements ? [...out.matchAll(/^\s+([\d.]+)\s+\d+\s+\S/gm)].map((m) => Number(m[1])) : undefined;
  return { transactions, tps, seconds: transactions / tps, latencyMs, ...(statementMs ? { statementMs } : {}) };
}

function run(cmd: string, args: string[], password: string, onProgress?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...(password ? { PGPASSWORD: password } : {}) };
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      if (onProgress) for (const line of text.split('\n')) if (line.startsWith('progress:')) onProgress(line);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited with ${code}:\n${out.slice(-1500)}`))));
  });
}

/** Size (bytes, with indexes and TOAST) and dead tuples of `tables` (of their partitions, when partitioned), summed. */
export async function tableState(c: pg.ClientBase, tables: string[]): Promise<{ bytes: number; dead: number; live: number }> {
  const { rows } = await c.query<{ bytes: string; dead: string; live: string }>(
    `SELECT coalesce(sum(pg_total_relation_size(r.oid)), 0) AS bytes,
            coalesce(sum(s.n_dead_tup), 0) AS dead, coalesce(sum(s.n_live_tup), 0) AS live
       FROM unnest($1::text[]) t(name)
       CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(t.name::regclass) WHERE isleaf
                           UNION SELECT t.name::regclass) p
       JOIN pg_class r ON r.oid = p.relid AND r.relkind <> 'p'
       LEFT JOIN pg_stat_user_tables s ON s.relid = r.oid`,
    [tables],
  );
  return { bytes: Number(rows[0]!.bytes), dead: Number(rows[0]!.dead), live: Number(rows[0]!.live) };
}
