/**
 * Candidate `split` of the storage study (issue #22; README.md beside this file): jobq.jobs holds only
 * unfinished jobs and keeps today's claim; a finished job moves, in the statement that finishes it, to
 * jobq.jobs_done, partitioned by day of finished_at; retention drops whole days; idempotency keys live in
 * jobq.job_keys, written only for jobs that have one.
 *
 * SplitQueue overrides what the design changes: the completion (one DELETE ... RETURNING into INSERT),
 * reads over both tables, the operator's retry (back from the history), cancel of a finished job, the
 * idempotent enqueue, and retention. Every other terminal transition (a failure out of attempts, a cancel,
 * a release or recovery that cancels) is jobq's own UPDATE, which the trigger jobs_split_move (setup.sql)
 * turns into the same move. What it does not carry throws `split prototype: <feature> not supported`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { isJobqError, JobqError } from '../../../src/errors.ts';
import { Queue, type CompleteItem, type PruneOptions, type QueueOptions } from '../../../src/queue/queue.ts';
import { checkout } from '../../../src/queue/checkout.ts';
import { keyedPage, LIST_SCAN_ROWS, listParams, PAGE_BYTES, pageOf } from '../../../src/queue/list.ts';
import { claimResultsParam, type Completion, resultJson, writeCompletions } from '../../../src/queue/results.ts';
import type { Retention } from '../../../src/queue/retention.ts';
import { type JobRow, toJob } from '../../../src/queue/rows.ts';
import * as Reads from '../../../src/queue/statements/reads.ts';
import { statement } from '../../../src/queue/statements/statement.ts';
import type { EnqueueResult, Job, JobPage, ListFilter, NewJob, QueueStats, WriteOptions } from '../../../src/queue/types.ts';
import { idempotencyConflict, isUuid, sameJob } from '../../../src/queue/validate.ts';
import type { StorageCandidate } from '../candidate.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const NOW = 'coalesce(:now::timestamptz, now())';

/** The columns a move copies, in jobq.jobs' order (jobq.jobs_done has the same). */
const COLUMNS = `id, queue, kind, payload, status, priority, attempts, max_attempts, run_at, timeout_ms, locked_by, locked_at,
  cancel_requested, idempotency_key, last_error, errors, backoff_ms, result, created_at, updated_at, finished_at, started_at,
  claim_seq, group_key, singleton_key, debounce_key, progress, depends_on, on_parent_failure, pending_parents, has_children, trace_context`;

/** The history's days that may hold job `id` (it finished after it was made; a day of slack for clock skew). */
const MAY_HOLD = (id: string) => `finished_at >= jobq.split_id_time(${id}) - interval '1 day'`;

/**
 * The worker's completion of its claims (guards.ts CLAIMED) as one statement: the rows leave the hot
 * table and enter the history's partition of today, succeeded, each with its result and start time.
 */
const complete = statement<{ workerId: string; ids: string[]; claims: string; started: string | null; now: Date | null }, { claim_seq: number }>(
  'split_complete',
  `WITH gone AS (
     DELETE FROM jobq.jobs
      WHERE id = ANY(:ids::uuid[]) AND status = 'running' AND locked_by = :workerId AND :claims::jsonb ? claim_seq::text
     RETURNING *
   )
   INSERT INTO jobq.jobs_done (${COLUMNS})
   SELECT id, queue, kind, payload, 'succeeded', priority, attempts, max_attempts, run_at, timeout_ms, NULL, NULL,
          cancel_requested, idempotency_key, last_error, errors, backoff_ms, :claims::jsonb -> claim_seq::text -> 0, created_at, ${NOW}, ${NOW},
          coalesce(started_at, to_timestamp((:started::jsonb ->> claim_seq::text)::float8 / 1000)),
          claim_seq, group_key, singleton_key, debounce_key, progress, depends_on, on_parent_failure, pending_parents, has_children, trace_context
     FROM gone
   RETURNING claim_seq::float8 AS claim_seq`,
);

const get = statement<{ id: string }, JobRow>(
  'split_get',
  `SELECT * FROM jobq.jobs WHERE id = :id
   UNION ALL
   SELECT * FROM jobq.jobs_done WHERE id = :id AND ${MAY_HOLD(':id::uuid')}
   LIMIT 1`,
);

/** The real listing (statements/reads.ts) over both tables: PostgreSQL merges their backward id scans. */
const LIST_TEXT = Reads.list.text.replace('FROM jobq.jobs j', 'FROM (SELECT * FROM jobq.jobs UNION ALL SELECT * FROM jobq.jobs_done) j');
if (LIST_TEXT === Reads.list.text) throw new Error('split: the listing statement changed; update LIST_TEXT');

/** failed_permanent or cancelled → queued, from the history back to the hot table, as statements/transitions.ts retry. */
const retry = statement<{ id: string; now: Date | null }, JobRow>(
  'split_retry',
  `WITH gone AS (
     DELETE FROM jobq.jobs_done
      WHERE id = :id AND status IN ('failed_permanent', 'cancelled') AND ${MAY_HOLD(':id::uuid')}
     RETURNING *
   ), back AS (
     INSERT INTO jobq.jobs (${COLUMNS})
     SELECT id, queue, kind, payload, 'queued', priority, 0, max_attempts, ${NOW}, timeout_ms, NULL, NULL,
            false, idempotency_key, last_error, errors, NULL, NULL, created_at, ${NOW}, NULL, started_at,
            claim_seq, group_key, singleton_key, debounce_key, NULL, depends_on, on_parent_failure,
            CASE WHEN pending_parents IS NOT NULL THEN 0 END, has_children, trace_context
       FROM gone
     RETURNING *
   )
   SELECT back.* FROM back
   LEFT JOIN LATERAL (SELECT pg_notify('jobq_jobs', CASE WHEN back.group_key IS NULL THEN back.queue ELSE back.queue || ' grouped' END)) n ON true`,
);

const takeKey = statement<{ key: string; id: string }, { key: string }>(
  'split_take_key',
  `INSERT INTO jobq.job_keys (key, job_id) VALUES (:key, :id) ON CONFLICT (key) DO NOTHING RETURNING key`,
);
const keyHolder = statement<{ key: string }, { job_id: string }>('split_key_holder', `SELECT job_id FROM jobq.job_keys WHERE key = :key`);
const ensureDays = statement<{ days: number }, unknown>('split_ensure_days', `SELECT jobq.split_ensure_days((now() AT TIME ZONE 'UTC')::date, :days)`);
const dropBefore = statement<{ before: Date }, { n: string }>('split_drop_before', `SELECT jobq.split_drop_before(:before) AS n`);

const unsupported = (feature: string) => new Error(`split prototype: ${feature} not supported`);

export class SplitQueue extends Queue {
  readonly #pool: pg.Pool;
  readonly #readPool: pg.Pool;
  readonly #clock: (() => Date) | undefined;
  readonly #bounds: { scanRows: number; pageBytes: number };

  constructor(options: QueueOptions) {
    if (options.schema !== undefined && options.schema !== 'jobq') throw unsupported('a schema other than jobq');
    super({ ...options, logStore: false }); // a design compared with the row store: what it does not override runs on the rows
    this.#pool = options.pool;
    this.#readPool = options.readPool ?? options.pool;
    this.#clock = options.clock;
    this.#bounds = { scanRows: LIST_SCAN_ROWS, pageBytes: PAGE_BYTES, ...options.listBounds };
    // The dashboard's reads (finished per minute, a job's children) look in jobq.jobs alone.
    const refuse = new Proxy({}, { get: (_t, p) => () => { throw unsupported(`insights.${String(p)}`); } });
    Object.defineProperty(this, 'insights', { value: refuse });
  }

  #now(): Date | null {
    return this.#clock?.() ?? null;
  }

  /**
   * A job with an idempotency key: jobq's insert (its key unique among hot jobs) and the key's row in
   * jobq.job_keys, in one transaction; a key a finished job holds answers with that job. Without a
   * key, jobq's enqueue as it is.
   */
  override async enqueue(job: NewJob, opts: WriteOptions = {}): Promise<EnqueueResult> {
    if (job.dependsOn !== undefined) throw unsupported('dependsOn (flows)');
    if (job.idempotencyKey === undefined) return super.enqueue(job, opts);
    if (opts.db) throw unsupported('an idempotency key inside a caller\'s transaction');
    const key = job.idempotencyKey;
    const client = await checkout(this.#pool);
    try {
      await client.query('BEGIN');
      const res = await super.enqueue(job, { db: client });
      if (!res.isNew || (await takeKey(client, { key, id: res.job.id })).length > 0) {
        await client.query('COMMIT');
        return res;
      }
      await client.query('ROLLBACK');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    // The key belongs to a job that finished (or moved there meanwhile): that job answers.
    const [holder] = await keyHolder(this.#pool, { key });
    const found = holder ? await this.get(holder.job_id) : null;
    if (!found) return this.enqueue(job, opts); // its day was dropped meanwhile: the key is free again
    if (!sameJob(found, { kind: job.kind, payload: job.payload })) throw idempotencyConflict(key, found.id, 0);
    return { job: found, isNew: false, outcome: 'idempotent_replay' };
  }

  override enqueueMany(jobs: NewJob[], opts: WriteOptions = {}): Promise<EnqueueResult[]> {
    if (jobs.some((j) => j.idempotencyKey !== undefined)) throw unsupported('enqueueMany with idempotency keys');
    if (jobs.some((j) => j.dependsOn !== undefined)) throw unsupported('dependsOn (flows)');
    return super.enqueueMany(jobs, opts);
  }

  /** As jobq's complete (results made storable, split by size), but each statement moves its rows. No `succeeded` events. */
  override async complete(workerId: string, items: CompleteItem[], opts: WriteOptions = {}): Promise<number[]> {
    if (items.length === 0) return [];
    const rows: Completion[] = [];
    let started = '';
    for (const { id, claimSeq, result, launchedAtMs } of items) {
      if (!isUuid(id)) continue;
      rows.push({ id, claimSeq, json: resultJson(result) });
      if (typeof launchedAtMs === 'number' && Number.isFinite(launchedAtMs)) started += `${started === '' ? '' : ','}"${claimSeq}":${launchedAtMs}`;
    }
    const write = async (batch: Completion[]) => {
      const ids = [...new Set(batch.map((r) => r.id))];
      const params = { workerId, ids, claims: claimResultsParam(batch), started: started === '' ? null : `{${started}}`, now: this.#now() };
      return (await complete(opts.db ?? this.#pool, params)).map((r) => r.claim_seq);
    };
    return writeCompletions(rows, write, opts.db === undefined);
  }

  override async get(id: string, opts: WriteOptions = {}): Promise<Job | null> {
    if (!isUuid(id)) return null;
    const [row] = await get(opts.db ?? this.#readPool, { id });
    return row ? toJob(row) : null;
  }

  override async list(filter: ListFilter = {}, opts: WriteOptions = {}): Promise<JobPage> {
    const params = listParams(filter, this.#bounds);
    const db = opts.db ?? this.#readPool;
    if (filter.idempotencyKey !== undefined) {
      const [holder] = await keyHolder(db, { key: filter.idempotencyKey });
      return keyedPage(holder ? await this.get(holder.job_id, opts) : null, params);
    }
    const { rows } = await db.query<Reads.ListRow>({ name: 'jobq_split_list', text: LIST_TEXT, values: Reads.list.values(params) });
    return pageOf(rows, params.limit - 1);
  }

  /** jobq's cancel on the hot table; a job already in the history is reported as finished. */
  override async requestCancel(id: string, opts: WriteOptions = {}): ReturnType<Queue['requestCancel']> {
    try {
      return await super.requestCancel(id, opts);
    } catch (err) {
      if (!isJobqError(err, 'not_found')) throw err;
      const job = await this.get(id, opts);
      if (!job || job.finishedAt === null) throw err;
      return { outcome: 'already_terminal', status: job.status as 'succeeded' | 'failed_permanent' | 'cancelled', job };
    }
  }

  /** Moves a failed_permanent or cancelled job back to the hot table, queued with fresh attempts. */
  override async retry(id: string, opts: WriteOptions = {}): Promise<Job> {
    if (!isUuid(id)) throw new JobqError('not_found', `no job with id ${id}`);
    const [row] = await retry(opts.db ?? this.#pool, { id, now: this.#now() });
    if (row) return toJob(row);
    const current = await this.get(id, opts);
    if (!current) throw new JobqError('not_found', `no job with id ${id}`);
    throw new JobqError('invalid_transition', `cannot retry job ${id}: it is ${current.status}`, [{ path: '/status', message: `is ${current.status}`, status: current.status }]);
  }

  /**
   * Retention by days: drops every day partition older than the longest of `retention`'s durations
   * (a day holds jobs of every status, so a status kept shorter is kept that long too). Also makes the
   * next days' partitions. Returns the jobs dropped.
   */
  override async prune(retention: Retention, opts: PruneOptions = {}): Promise<number> {
    if (opts.db) throw unsupported('prune inside a caller\'s transaction');
    await ensureDays(this.#pool, { days: 3 });
    const keep = Object.values(retention);
    if (keep.some((ms) => ms === null)) return 0;
    const before = new Date((this.#now() ?? new Date()).getTime() - Math.max(...(keep as number[])));
    const [row] = await dropBefore(this.#pool, { before });
    const n = Number(row?.n ?? 0);
    if (n > 0) this.events.emit('pruned', { count: n });
    return n;
  }

  /** jobq's sweep (recovery: the trigger moves what it finishes), then this design's retention. */
  override async sweep(staleAfterMs: number, retention?: Retention): Promise<{ recovered: number; pruned: number } | null> {
    const swept = await super.sweep(staleAfterMs);
    if (swept === null) return null;
    return { recovered: swept.recovered, pruned: retention ? await this.prune(retention) : 0 };
  }

  override stats(): Promise<QueueStats> {
    throw unsupported('stats (counts over the history)');
  }

  override parents(): never {
    throw unsupported('parents (flows)');
  }
}

const UUID7 = (ms: string) =>
  `(lpad(to_hex((extract(epoch FROM ${ms}) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid`;

export const candidate: StorageCandidate = {
  name: 'split',
  title: 'hot table of unfinished jobs + day-partitioned history they move to at completion; retention drops days',
  setupSql: path.join(here, 'setup.sql'),
  pgbench: {
    claimFinish: path.join(here, 'pgbench/claim_finish.sql'),
    enqueue: path.join(here, 'pgbench/enqueue.sql'),
    get: path.join(here, 'pgbench/get.sql'),
    list: path.join(here, 'pgbench/list.sql'),
    cancel: path.join(here, 'pgbench/cancel.sql'),
    retry: path.join(here, 'pgbench/retry.sql'),
  },
  async seed(c, n) {
    await c.query(
      `INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, created_at, updated_at)
       SELECT ${UUID7("clock_timestamp() + i * interval '1 microsecond'")}, 'default', 'bench_noop', '{}', 0, 25, now(), now(), now()
         FROM generate_series(1, $1::int) AS i`,
      [n],
    );
  },
  async addFinished(c, n, hoursAgo) {
    // Made in the hour before they finished; their day's partition first (the default one would keep them).
    await c.query(`SELECT jobq.split_ensure_days(((now() - $1 * interval '1 hour') AT TIME ZONE 'UTC')::date, 1)`, [hoursAgo]);
    for (let from = 1; from <= n; from += 250_000) {
      await c.query(
        `INSERT INTO jobq.jobs_done (id, queue, kind, payload, status, max_attempts, attempts, run_at, created_at, updated_at, finished_at, started_at)
         SELECT ${UUID7("now() - ($1 + 1) * interval '1 hour' + i * interval '1 microsecond'")}, 'default', 'bench_noop', '{}', 'succeeded', 25, 1,
                now() - ($1 + 1) * interval '1 hour', now() - ($1 + 1) * interval '1 hour', now() - $1 * interval '1 hour',
                now() - $1 * interval '1 hour', now() - $1 * interval '1 hour'
           FROM generate_series($2::int, $3::int) AS i`,
        [hoursAgo, from, Math.min(n, from + 249_999)],
      );
    }
  },
  async addFailed(c, n) {
    await c.query(
      `INSERT INTO jobq.jobs_done (id, queue, kind, payload, status, max_attempts, attempts, run_at, created_at, updated_at, finished_at, last_error)
       SELECT ${UUID7("clock_timestamp()")}, 'default', 'bench_noop', '{}', 'failed_permanent', 25, 25, now(), now(), now(), now(), 'bench'
         FROM generate_series(1, $1::int)`,
      [n],
    );
  },
  sampleIdsSql(what) {
    if (what === 'queued') return `SELECT id FROM jobq.jobs WHERE status = 'queued'`;
    return `SELECT id FROM jobq.jobs_done WHERE status = '${what === 'finished' ? 'succeeded' : 'failed_permanent'}'`;
  },
  async succeeded(c) {
    const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.jobs_done WHERE status = 'succeeded'`);
    return rows[0]!.n;
  },
  async remaining(c) {
    const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.jobs WHERE status IN ('queued', 'running', 'retrying')`);
    return rows[0]!.n;
  },
  hotTables: ['jobq.jobs'],
  async retention(c, before) {
    const { rows } = await c.query<{ n: string }>(`SELECT jobq.split_drop_before($1) AS n`, [before]);
    return Number(rows[0]!.n);
  },
  async reset(c) {
    await c.query('TRUNCATE jobq.jobs, jobq.jobs_done, jobq.job_keys, jobq.queues, jobq.queue_starts');
  },
  createQueue: (options) => new SplitQueue(options),
};
