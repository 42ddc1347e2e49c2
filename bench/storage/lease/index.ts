/**
 * Storage candidate `lease` (issue #22; README.md here): the ready table is jobq.jobs, a claim DELETEs
 * its jobs from it and writes ONE row per batch to jobq.leases (the claimed rows, as they run), and a
 * completion appends the jobs to jobq.jobs_done (partitioned by day) and takes them out of their lease.
 * The statements are functions in setup.sql; this file is their `Queue`, so that the real Worker runs
 * jobs through the design. The rare transitions (failure, cancel, release, recovery) put the job back
 * into jobq.jobs as it ran and apply jobq's own statement to it, then move a finished job to the
 * history: jobq's semantics (backoff, error history, attempts) at the cost of extra writes off the hot path.
 */
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { JobqError } from '../../../src/errors.ts';
import { Queue, type ClaimLimitedOptions, type ClaimOptions, type ClaimRef, type ClaimsHeartbeat, type CompleteItem, type FailOptions, type ProgressValue, type PruneOptions, type QueueOptions, type QueueThrottle } from '../../../src/queue/queue.ts';
import { decodeCursor, encodeCursor } from '../../../src/queue/cursor.ts';
import { resultJson } from '../../../src/queue/results.ts';
import type { Retention } from '../../../src/queue/retention.ts';
import { type ClaimedRow, type JobRow, toClaimedJob, toJob } from '../../../src/queue/rows.ts';
import type { CancelOutcome, ClaimedJob, EnqueueResult, Job, JobPage, ListFilter, NewJob, QueueInfo, QueueStats, WorkerWriteOptions, WriteOptions } from '../../../src/queue/types.ts';
import type { StorageCandidate } from '../candidate.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

const unsupported = (feature: string) => new Error(`lease prototype: ${feature} not supported`);

const TERMINAL = new Set(['succeeded', 'failed_permanent', 'cancelled']);

/** The claim (jobq.lease_claim), returning what a worker runs a job with, as jobq's claim statement does. */
const CLAIM = `SELECT id, queue, kind, payload, priority, attempts, max_attempts, timeout_ms, backoff_ms,
        (extract(epoch FROM started_at) * 1000)::float8 AS started_at_ms,
        (extract(epoch FROM run_at) * 1000)::float8 AS run_at_ms, claim_seq::float8 AS claim_seq, trace_context
   FROM jobq.lease_claim($1, $2, $3::text[], $4::text[], $5::timestamptz, $6::integer, $7::boolean, $8::text[],
                         $9::integer, $10::timestamptz, $11::uuid)`;

/** The lease rows of a worker's claims, renewed; which positions are held and which asked to cancel. */
const RENEW = `UPDATE jobq.leases SET locked_at = coalesce($3::timestamptz, now())
  WHERE id = ANY ($2::bigint[]) AND worker = $1
  RETURNING id::float8 AS id, pending, cancel`;

const SEQ_BASE = 1_048_576;

/** The design's Queue: what it changes is overridden; what it cannot carry throws (see README.md). */
export class LeaseQueue extends Queue {
  readonly #pool: pg.Pool;
  readonly #readPool: pg.Pool;
  readonly #clock: (() => Date) | undefined;

  constructor(options: QueueOptions) {
    super({ ...options, logStore: false }); // a design compared with the row store: what it does not override runs on the rows
    this.#pool = options.pool;
    this.#readPool = options.readPool ?? options.pool;
    this.#clock = options.clock;
  }

  #now(): Date | null {
    return this.#clock ? this.#clock() : null;
  }

  /** Runs `work` in a transaction of its own (or inside the caller's, `db`). */
  async #tx<T>(db: WriteOptions['db'], work: (c: pg.PoolClient | NonNullable<WriteOptions['db']>) => Promise<T>): Promise<T> {
    if (db) return work(db);
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const out = await work(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  /** Takes claims out of their leases back into jobq.jobs (as running); returns the job ids taken. */
  async #take(db: NonNullable<WriteOptions['db']>, workerId: string | null, seqs: number[], staleBefore: Date | null = null): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>('SELECT id FROM jobq.lease_take($1, $2::bigint[], $3::timestamptz) id', [workerId, seqs, staleBefore]);
    return rows.map((r) => r.id);
  }

  /** Moves the jobs among `ids` that ended terminal from jobq.jobs to the history. */
  async #archive(db: NonNullable<WriteOptions['db']>, ids: string[]): Promise<void> {
    if (ids.length > 0) await db.query('SELECT jobq.lease_archive($1::uuid[])', [ids]);
  }

  // --- Enqueue: the ready table is jobq.jobs, so jobq's own insert; keys and flows would need tables of their own ---

  override enqueue(job: NewJob, opts: WriteOptions = {}): Promise<EnqueueResult> {
    checkNew(job);
    return super.enqueue(job, opts);
  }

  override enqueueMany(jobs: NewJob[], opts: WriteOptions = {}): Promise<EnqueueResult[]> {
    jobs.forEach(checkNew);
    return super.enqueueMany(jobs, opts);
  }

  // --- Claims and leases ---

  override async claim(workerId: string, opts: ClaimOptions = {}): Promise<ClaimedJob[]> {
    const limit = opts.limit ?? 1;
    if (!Number.isInteger(limit) || limit < 1 || limit >= SEQ_BASE) throw new JobqError('validation_failed', `claim limit must be an integer from 1 to ${SEQ_BASE - 1}`);
    const nonEmpty = (a?: string[]) => (a && a.length > 0 ? a : null);
    const { rows } = await (opts.db ?? this.#pool).query<ClaimedRow>({
      name: 'lease_claim',
      text: CLAIM,
      values: [
        workerId, limit, nonEmpty(opts.queues), nonEmpty(opts.kinds), this.#now(), opts.started ?? null, opts.db === undefined, nonEmpty(opts.exclude),
        opts.after?.priority ?? null, opts.after?.runAt ?? null, opts.after?.id ?? null,
      ],
    });
    const jobs = rows.map(toClaimedJob).sort((x, y) => x.claimSeq - y.claimSeq);
    if (jobs.length > 0) this.events.emit('claimed', { jobs, workerId });
    return jobs;
  }

  override claimLimited(_workerId: string, _opts: ClaimLimitedOptions): Promise<{ jobs: ClaimedJob[]; throttles: QueueThrottle[] }> {
    throw unsupported('queue policies and groups (claimLimited)');
  }

  override async renew(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<ClaimsHeartbeat> {
    if (claims.length === 0) return { cancelRequested: [], lost: [] };
    const leases = [...new Set(claims.map((c) => Math.floor(c.claimSeq / SEQ_BASE)))];
    const { rows } = await (opts.db ?? this.#pool).query<{ id: number; pending: number[]; cancel: number[] }>({
      name: 'lease_renew', text: RENEW, values: [workerId, leases, this.#now()],
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const cancelRequested: number[] = [];
    const lost: number[] = [];
    for (const c of claims) {
      const l = byId.get(Math.floor(c.claimSeq / SEQ_BASE));
      const n = c.claimSeq % SEQ_BASE;
      if (!l || !l.pending.includes(n)) lost.push(c.claimSeq);
      else if (l.cancel.includes(n)) cancelRequested.push(c.claimSeq);
    }
    return { cancelRequested, lost };
  }

  override async release(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<Job[]> {
    if (claims.length === 0) return [];
    return this.#tx(opts.db, async (db) => {
      await this.#take(db, workerId, claims.map((c) => c.claimSeq));
      const jobs = await super.release(workerId, claims, { db });
      await this.#archive(db, jobs.filter((j) => TERMINAL.has(j.status)).map((j) => j.id));
      return jobs;
    });
  }

  // --- Transitions ---

  /** One statement for the batch (jobq.lease_complete); results made storable as jobq's are (results.ts), not split by size. */
  override async complete(workerId: string, items: CompleteItem[], opts: WriteOptions = {}): Promise<number[]> {
    if (items.length === 0) return [];
    let started = '';
    for (const i of items) if (i.launchedAtMs !== undefined) started += `${started === '' ? '' : ','}"${i.claimSeq}":${i.launchedAtMs}`;
    const { rows } = await (opts.db ?? this.#pool).query<{ s: string }>({
      name: 'lease_complete',
      text: 'SELECT s FROM jobq.lease_complete($1, $2::bigint[], $3::jsonb[], $4::jsonb, $5::timestamptz, $6::boolean) s',
      values: [
        workerId, items.map((i) => i.claimSeq), items.map((i) => resultJson(i.result) ?? null),
        started === '' ? null : `{${started}}`, this.#now(), opts.db === undefined,
      ],
    });
    return rows.map((r) => Number(r.s));
  }

  override markFailedOrRetry(id: string, error: unknown, opts: FailOptions = {}): Promise<Job> {
    return this.#onTaken(id, opts, (db) => super.markFailedOrRetry(id, error, { ...opts, db }));
  }

  override finalizeCancelled(id: string, opts: WorkerWriteOptions = {}): Promise<Job> {
    return this.#onTaken(id, opts, (db) => super.finalizeCancelled(id, { ...opts, db }));
  }

  /** A single-job transition of a running job: out of its lease, jobq's own statement, then to the history if finished. */
  #onTaken(id: string, opts: WorkerWriteOptions, transition: (db: NonNullable<WriteOptions['db']>) => Promise<Job>): Promise<Job> {
    if (opts.claimSeq === undefined) throw unsupported('a transition of a running job without its claimSeq');
    return this.#tx(opts.db, async (db) => {
      await this.#take(db, opts.workerId ?? null, [opts.claimSeq!]);
      const job = await transition(db);
      if (TERMINAL.has(job.status)) await this.#archive(db, [id]);
      return job;
    });
  }

  override async requestCancel(id: string, opts: WriteOptions = {}): Promise<CancelOutcome> {
    const { rows } = await (opts.db ?? this.#pool).query<{ outcome: CancelOutcome['outcome']; job: JobRow }>(
      `SELECT c.outcome, to_jsonb(c.job) AS job FROM jobq.lease_cancel($1, $2::timestamptz) c`, [id, this.#now()],
    );
    const [row] = rows;
    if (!row) throw new JobqError('not_found', `no job with id ${id}`);
    const job = toJob(fromJson(row.job));
    if (row.outcome === 'already_terminal') return { outcome: 'already_terminal', status: job.status as 'succeeded', job };
    return { outcome: row.outcome, job };
  }

  override async retry(id: string, opts: WriteOptions = {}): Promise<Job> {
    const { rows } = await (opts.db ?? this.#pool).query<JobRow>('SELECT * FROM jobq.lease_retry($1, $2::timestamptz)', [id, this.#now()]);
    if (rows[0]) return toJob(rows[0]);
    const now = await this.get(id, opts);
    if (!now) throw new JobqError('not_found', `no job with id ${id}`);
    throw new JobqError('invalid_transition', `cannot retry job ${id}: it is ${now.status}`);
  }

  override progress(_id: string, _value: ProgressValue): Promise<boolean> {
    throw unsupported('progress');
  }

  // --- Housekeeping ---

  /** Leases not renewed for `staleAfterMs` lost their worker: their jobs back to jobq.jobs, then jobq's recovery on them. */
  override async recoverStale(staleAfterMs: number, opts: WriteOptions = {}): Promise<number> {
    return this.#tx(opts.db, async (db) => {
      const before = new Date((this.#now() ?? (await db.query<{ now: Date }>('SELECT now()')).rows[0]!.now).getTime() - staleAfterMs);
      const { rows } = await db.query<{ s: string }>('SELECT s FROM jobq.lease_stale($1) s', [before]);
      if (rows.length === 0) return 0;
      const ids = await this.#take(db, null, rows.map((r) => Number(r.s)), before);
      const n = await super.recoverStale(staleAfterMs, { db });
      await this.#archive(db, ids);
      return n;
    });
  }

  /**
   * Drops the days of history that ended before now minus the longest retention of any status (a
   * day's partition holds every status): succeeded jobs are kept as long as failed ones.
   */
  override async prune(retention: Retention, _opts: PruneOptions = {}): Promise<number> {
    const keeps = Object.values(retention);
    if (keeps.some((k) => k === null)) return 0;
    const now = this.#now() ?? new Date();
    const before = new Date(now.getTime() - Math.max(...(keeps as number[])));
    const { rows } = await this.#pool.query<{ n: string }>('SELECT jobq.done_drop_before($1) AS n', [before]);
    const n = Number(rows[0]!.n);
    // The next days' partitions, made ahead (a completion that finds none lands in the default partition).
    await this.#pool.query(`SELECT jobq.done_partitions(now(), now() + interval '7 days')`);
    return n;
  }

  override async sweep(staleAfterMs: number, retention?: Retention): Promise<{ recovered: number; pruned: number } | null> {
    const recovered = await this.recoverStale(staleAfterMs);
    const pruned = retention ? await this.prune(retention) : 0;
    return { recovered, pruned };
  }

  // --- Reads ---

  override async get(id: string, opts: WriteOptions = {}): Promise<Job | null> {
    const { rows } = await (opts.db ?? this.#readPool).query<JobRow>({ name: 'lease_get', text: 'SELECT * FROM jobq.lease_get($1)', values: [id] });
    return rows[0] ? toJob(rows[0]) : null;
  }

  /** Newest first across ready table, leases and history, `limit` per page, keyset on the id. No filters. */
  override async list(filter: ListFilter = {}, opts: WriteOptions = {}): Promise<JobPage> {
    const { cursor, limit = 50, ...rest } = filter;
    if (Object.values(rest).some((v) => v !== undefined)) throw unsupported('list filters (status, kind, queue, group, idempotencyKey)');
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new JobqError('validation_failed', 'limit must be an integer from 1 to 500');
    const after = cursor === undefined ? null : decodeCursor(cursor);
    const { rows } = await (opts.db ?? this.#readPool).query<JobRow>({
      name: 'lease_list', text: 'SELECT * FROM jobq.lease_list($1, $2)', values: [after, limit + 1],
    });
    const jobs = rows.slice(0, limit).map(toJob);
    return { jobs, nextCursor: rows.length > limit ? encodeCursor(jobs[jobs.length - 1]!.id) : null };
  }

  override stats(): Promise<QueueStats> {
    throw unsupported('stats (counts of running and finished jobs)');
  }

  override getQueue(_name: string): Promise<QueueInfo> {
    throw unsupported('getQueue (counts of running jobs)');
  }
}

/** What the design does not carry in an enqueue: keys and flows (they need tables of their own). */
function checkNew(job: NewJob): void {
  if (job.idempotencyKey !== undefined) throw unsupported('idempotency keys');
  if (job.singletonKey !== undefined || job.debounceKey !== undefined) throw unsupported('singleton and debounce keys');
  if (job.dependsOn !== undefined) throw unsupported('flows (dependsOn)');
  if (job.group !== undefined) throw unsupported('groups');
}

/** A jobq.jobs row read back from to_jsonb: the columns that are not JSON types as toJob expects them. */
function fromJson(j: JobRow): JobRow {
  const date = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));
  return {
    ...j,
    run_at: date(j.run_at)!, locked_at: date(j.locked_at), started_at: date(j.started_at), created_at: date(j.created_at)!,
    updated_at: date(j.updated_at)!, finished_at: date(j.finished_at),
  };
}

export const candidate: StorageCandidate = {
  name: 'lease',
  title: 'claims write one lease row per batch (jobs DELETEd from the ready table); finished jobs appended to a daily-partitioned history',
  setupSql: here('./setup.sql'),
  pgbench: {
    claimFinish: here('./pgbench/claim_finish.sql'),
    enqueue: here('./pgbench/enqueue.sql'),
    get: here('./pgbench/get.sql'),
    list: here('./pgbench/list.sql'),
    cancel: here('./pgbench/cancel.sql'),
    retry: here('./pgbench/retry.sql'),
  },
  async seed(c, n) {
    await c.query(
      `INSERT INTO jobq.jobs (id, kind, payload, max_attempts)
       SELECT jobq.uuid7(now() - interval '1 second'), 'bench_noop', '{}', 25 FROM generate_series(1, $1::int)`,
      [n],
    );
  },
  async addFinished(c, n, hoursAgo) {
    await c.query(`SELECT jobq.done_partitions(now() - $1::float8 * interval '1 hour', now())`, [hoursAgo]);
    await c.query(
      `INSERT INTO jobq.jobs_done (id, kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at, finished_at, started_at)
       SELECT jobq.uuid7(t - interval '1 second'), 'bench_noop', '{}', 'succeeded', 1, 25, t, t, t, t, t
         FROM (SELECT now() - $2::float8 * interval '1 hour' AS t) x, generate_series(1, $1::int)`,
      [n, hoursAgo],
    );
  },
  async addFailed(c, n) {
    await c.query(
      `INSERT INTO jobq.jobs_done (id, kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at, finished_at, last_error)
       SELECT jobq.uuid7(now() - interval '1 second'), 'bench_noop', '{}', 'failed_permanent', 25, 25, now(), now(), now(), now(), 'failed'
         FROM generate_series(1, $1::int)`,
      [n],
    );
  },
  sampleIdsSql(what) {
    if (what === 'queued') return `SELECT id FROM jobq.jobs WHERE status = 'queued'`;
    return `SELECT id FROM jobq.jobs_done WHERE status = '${what === 'finished' ? 'succeeded' : 'failed_permanent'}'`;
  },
  async succeeded(c) {
    return Number((await c.query(`SELECT count(*) AS n FROM jobq.jobs_done WHERE status = 'succeeded'`)).rows[0].n);
  },
  async remaining(c) {
    const { rows } = await c.query(
      `SELECT (SELECT count(*) FROM jobq.jobs WHERE status IN ('waiting', 'queued', 'retrying'))
            + (SELECT coalesce(sum(cardinality(pending)), 0) FROM jobq.leases) AS n`,
    );
    return Number(rows[0].n);
  },
  hotTables: ['jobq.jobs', 'jobq.leases'],
  async retention(c, before) {
    return Number((await c.query('SELECT jobq.done_drop_before($1) AS n', [before])).rows[0].n);
  },
  async reset(c) {
    await c.query('TRUNCATE jobq.jobs, jobq.leases, jobq.jobs_done CASCADE');
  },
  createQueue(options) {
    return new LeaseQueue(options);
  },
};
