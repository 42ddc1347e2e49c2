/**
 * The `log` candidate's Queue (README.md beside this file): jobq's Queue with the job lifecycle on
 * append-only tables (setup.sql). Every job write is an INSERT: the enqueue one log entry, a claim one
 * batch row, a completion one done row per claim batch, a failure one fail row (and, for a retry, one
 * scheduled entry). Status is derived on read (jobq.log_job). What the design does not carry here
 * throws `log prototype: <feature> not supported`; the Worker's registration and events stay jobq's.
 *
 * A claim's `claimSeq` is `batch_id * 1024 + place in the batch`: the batch it names is the claim's lease.
 */
import type pg from 'pg';
import { JobqError } from '../../../src/errors.ts';
import { Queue, type ClaimOptions, type ClaimRef, type ClaimsHeartbeat, type CompleteItem, type FailOptions, type QueueOptions } from '../../../src/queue/queue.ts';
import { type BackoffPolicy, DEFAULT_BACKOFF, nextDelay, type RandomSource } from '../../../src/queue/backoff.ts';
import { newJobId } from '../../../src/queue/ids.ts';
import type { Retention } from '../../../src/queue/retention.ts';
import type { CancelOutcome, ClaimedJob, EnqueueResult, Job, JobPage, JobStatus, ListFilter, NewJob, WriteOptions } from '../../../src/queue/types.ts';
import { prepareInsert } from '../../../src/queue/validate.ts';
import { archiveGenerations, dropGenerations, rotate } from './retention.ts';

export const SEQ_SPAN = 1024;
/** A sweep makes a new generation current when the newest is older than this. */
export const ROTATE_MS = 3_600_000;

export function unsupported(feature: string): Error {
  return new Error(`log prototype: ${feature} not supported`);
}

const ENTRY_COLUMNS = 'id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at';

const INSERT_NOW = `
  WITH ins AS (
    INSERT INTO jobq.log (id, queue, kind, payload, max_attempts, timeout_ms)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::int[])
    RETURNING queue, run_at, created_at
  )
  SELECT DISTINCT ON (queue) queue, run_at, created_at, pg_notify('jobq_jobs', queue) FROM ins`;

const INSERT_LATER = `
  INSERT INTO jobq.log_scheduled (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, created_at)
  SELECT id, true, q, k, p, 1, m, r, t, now() FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::int[], $6::int[], $7::timestamptz[]) AS u(id, q, k, p, m, t, r)
  RETURNING created_at`;

/** $5: the claim is its own transaction (the Queue's pool, not a caller's), so it may commit without waiting for the flush. */
const CLAIM = `SELECT * FROM jobq.log_claim_any($1::text[], $2::text[], $3, $4, $5)`;

const COMPLETE = `
  WITH i AS (
    SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::uuid[], $5::jsonb[], $6::bigint[]) AS t(batch_id, pos, id, result, claim_seq)
  ), r AS (
    SELECT i.batch_id, coalesce(i.pos, (SELECT max(l.pos) FROM jobq.log l WHERE l.id = i.id)) AS pos, i.result, i.claim_seq FROM i
  ), held AS (
    SELECT b.batch_id FROM jobq.log_batch b WHERE b.batch_id = ANY ($2) AND b.worker = $1 AND b.lost_at IS NULL FOR SHARE
  ), ok AS (
    SELECT r.* FROM r JOIN held USING (batch_id)
     WHERE NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = r.pos)
       AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = r.batch_id AND r.pos = ANY (d.pos))
  ), ins AS (
    INSERT INTO jobq.log_done (batch_id, pos, results)
    SELECT batch_id, array_agg(pos ORDER BY pos), CASE WHEN bool_and(result IS NULL) THEN NULL ELSE jsonb_agg(result ORDER BY pos) END
      FROM ok GROUP BY batch_id
  )
  SELECT claim_seq FROM ok`;

/** The entry claim `claimSeq` of worker `w` runs, locked against recovery, if the claim still holds it and it has no outcome. */
const HELD_ENTRY = `
  SELECT l.*, b.batch_id FROM jobq.log_batch b
    JOIN jobq.log l ON l.id = $4 AND l.pos = coalesce($3::bigint, (SELECT max(x.pos) FROM jobq.log x WHERE x.id = $4))
   WHERE b.batch_id = $1 AND b.worker = $2 AND b.lost_at IS NULL
     AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)
     AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = b.batch_id AND l.pos = ANY (d.pos))
   FOR SHARE OF b`;

const APPEND_AGAIN = `
  INSERT INTO jobq.log (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at)
  SELECT id, false, queue, kind, payload, $2, max_attempts, now(), timeout_ms, backoff_ms, created_at FROM jobq.log_all WHERE id = $3 AND pos = $1`;

/** A page of jobs newest first by id, across the log and the scheduled entries ($2: the cursor, an id, or null), derived in one call. */
const LIST = `
  SELECT * FROM jobq.log_jobs(ARRAY(
    SELECT id FROM (
      SELECT id FROM (SELECT id FROM jobq.log_all WHERE first AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $1) a
      UNION ALL SELECT id FROM (SELECT id FROM jobq.log_scheduled WHERE first AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $1) s
    ) u ORDER BY id DESC LIMIT $1))`;

interface DerivedRow {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  run_at: Date;
  timeout_ms: number | null;
  backoff_ms: number | null;
  locked_by: string | null;
  locked_at: Date | null;
  result: unknown;
  created_at: Date;
  finished_at: Date | null;
  errors: Job['errors'];
}

interface EntryRow {
  pos: string;
  id: string;
  attempt: number;
  max_attempts: number;
  backoff_ms: number | null;
}

export function toJob(r: DerivedRow): Job {
  const last = r.errors.at(-1);
  return {
    id: r.id, queue: r.queue, kind: r.kind, payload: r.payload, status: r.status, priority: 0, attempts: r.attempts,
    maxAttempts: r.max_attempts, runAt: r.run_at, timeoutMs: r.timeout_ms, lockedBy: r.locked_by, lockedAt: r.locked_at,
    startedAt: r.locked_at, claimSeq: null, cancelRequested: false, idempotencyKey: null, group: null, singletonKey: null,
    debounceKey: null, dependsOn: null, onParentFailure: null, lastError: last?.error ?? null, errors: r.errors,
    backoffMs: r.backoff_ms, result: r.result ?? null, createdAt: r.created_at, updatedAt: r.finished_at ?? r.created_at,
    finishedAt: r.finished_at, progress: null,
  };
}

export interface LogQueueOptions extends QueueOptions {
  /** How long a sweep lets the newest generation take inserts before rotating. Default ROTATE_MS. */
  rotateMs?: number;
}

export class LogQueue extends Queue {
  readonly #pool: pg.Pool;
  readonly #readPool: pg.Pool;
  readonly #backoff: BackoffPolicy;
  readonly #random: RandomSource;
  readonly #rotateMs: number;
  /** The log position of each claim this process holds (claimSeq → pos), so that outcomes need not look it up. */
  readonly #pos = new Map<number, string>();
  /** Queues whose cursor rows (one per lane) this process knows to exist. */
  readonly #cursors = new Set(['default']);

  constructor(options: LogQueueOptions) {
    super(options);
    this.#pool = options.pool;
    this.#readPool = options.readPool ?? options.pool;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#random = options.random ?? Math.random;
    this.#rotateMs = options.rotateMs ?? ROTATE_MS;
  }

  override async enqueue(job: NewJob, opts: WriteOptions = {}): Promise<EnqueueResult> {
    return (await this.enqueueMany([job], opts))[0]!;
  }

  override async enqueueMany(jobs: NewJob[], opts: WriteOptions = {}): Promise<EnqueueResult[]> {
    if (jobs.length < 1 || jobs.length > 1000) throw new JobqError('validation_failed', 'a batch holds 1 to 1000 jobs');
    const rows = jobs.map((job, i) => {
      for (const key of ['idempotencyKey', 'group', 'singletonKey', 'debounceKey', 'dependsOn', 'onParentFailure'] as const) {
        if (job[key] !== undefined) throw unsupported(key);
      }
      if ((job.priority ?? 0) !== 0) throw unsupported('priority other than 0');
      const row = prepareInsert(job, i, newJobId(), this.kinds);
      const runAt = row.run_at ? new Date(row.run_at) : row.delay_ms > 0 ? new Date(Date.now() + row.delay_ms) : null;
      return { ...row, runAt: runAt && runAt.getTime() > Date.now() ? runAt : null };
    });
    const db = opts.db ?? this.#pool;
    for (const q of new Set(rows.map((r) => r.queue))) {
      if (this.#cursors.has(q)) continue;
      await db.query('SELECT jobq.log_add_queue($1)', [q]);
      this.#cursors.add(q);
    }
    const now = rows.filter((r) => r.runAt === null);
    const later = rows.filter((r) => r.runAt !== null);
    const cols = (rs: typeof rows) => [rs.map((r) => r.id), rs.map((r) => r.queue), rs.map((r) => r.kind), rs.map((r) => JSON.stringify(r.payload)), rs.map((r) => r.max_attempts), rs.map((r) => r.timeout_ms)];
    let createdAt = new Date();
    if (now.length > 0) createdAt = (await db.query<{ created_at: Date }>(INSERT_NOW, cols(now))).rows[0]!.created_at;
    if (later.length > 0) createdAt = (await db.query<{ created_at: Date }>(INSERT_LATER, [...cols(later), later.map((r) => r.runAt)])).rows[0]!.created_at;
    return rows.map((r) => ({
      isNew: true,
      outcome: 'created' as const,
      job: toJob({
        id: r.id, queue: r.queue, kind: r.kind, payload: r.payload, status: 'queued', attempts: 0, max_attempts: r.max_attempts,
        run_at: r.runAt ?? createdAt, timeout_ms: r.timeout_ms, backoff_ms: null, locked_by: null, locked_at: null, result: null,
        created_at: createdAt, finished_at: null, errors: [],
      }),
    }));
  }

  /** Claims one batch per queue (in name order) until `limit`; ignores `kinds` and `after` (a batch takes its window's entries in order). */
  override async claim(workerId: string, opts: ClaimOptions = {}): Promise<ClaimedJob[]> {
    const db = opts.db ?? this.#pool;
    const queues = opts.queues && opts.queues.length > 0 ? opts.queues : null;
    const { rows } = await db.query<{ batch_id: string; seq: number; pos: string; id: string; queue: string; kind: string; payload: unknown; attempt: number; max_attempts: number; run_at: Date; timeout_ms: number | null; backoff_ms: number | null }>(
      CLAIM, [queues, opts.exclude ?? [], workerId, Math.min(opts.limit ?? 1, 1000), opts.db === undefined],
    );
    const startedAt = new Date();
    return rows.map((r) => {
      const claimSeq = Number(r.batch_id) * SEQ_SPAN + r.seq;
      this.#pos.set(claimSeq, r.pos);
      return {
        id: r.id, queue: r.queue, kind: r.kind, payload: r.payload, priority: 0, attempts: r.attempt, maxAttempts: r.max_attempts,
        runAt: r.run_at, timeoutMs: r.timeout_ms, backoffMs: r.backoff_ms, startedAt, group: null, claimSeq, traceContext: null,
      };
    });
  }

  /** Nothing to record: a claim counts the attempt of every job it takes (no buffered, unstarted claims). */
  override async markStartedThrough(): Promise<void> {}

  override async complete(workerId: string, items: CompleteItem[], opts: WriteOptions = {}): Promise<number[]> {
    if (items.length === 0) return [];
    const batch = items.map((i) => Math.floor(i.claimSeq / SEQ_SPAN));
    const pos = items.map((i) => this.#pos.get(i.claimSeq) ?? null);
    const results = items.map((i) => (i.result === undefined ? null : JSON.stringify(i.result)));
    const { rows } = await (opts.db ?? this.#pool).query<{ claim_seq: string }>(COMPLETE, [workerId, batch, pos, items.map((i) => i.id), results, items.map((i) => i.claimSeq)]);
    for (const i of items) this.#pos.delete(i.claimSeq);
    return rows.map((r) => Number(r.claim_seq));
  }

  /** A failed attempt: one fail row (retrying or failed_permanent); a retry also one scheduled entry, due after the backoff. */
  override async markFailedOrRetry(id: string, error: unknown, opts: FailOptions = {}): Promise<Job> {
    if (opts.workerId === undefined || opts.claimSeq === undefined) throw unsupported('failing a job outside its claim');
    const { workerId, claimSeq } = opts;
    const message = error instanceof Error ? error.message : String(error);
    await this.#inTransaction(opts.db, async (c) => {
      const e = await this.#heldEntry(c, workerId, claimSeq, id);
      this.#pos.delete(claimSeq);
      if (opts.permanent || e.attempt >= e.max_attempts) {
        await c.query(`INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, error) VALUES ($1, $2, $3, 'failed_permanent', $4, $5)`, [e.pos, id, Math.floor(claimSeq / SEQ_SPAN), e.attempt, message]);
        return;
      }
      const delay = nextDelay(opts.previousDelayMs ?? e.backoff_ms, this.#backoff, this.#random);
      await c.query(`INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, error) VALUES ($1, $2, $3, 'retrying', $4, $5)`, [e.pos, id, Math.floor(claimSeq / SEQ_SPAN), e.attempt, message]);
      await c.query(
        `INSERT INTO jobq.log_scheduled (${ENTRY_COLUMNS})
         SELECT id, false, queue, kind, payload, attempt + 1, max_attempts, now() + $2 * interval '1 ms', timeout_ms, $2, created_at FROM jobq.log WHERE id = $3 AND pos = $1`,
        [e.pos, delay, id],
      );
    });
    return (await this.get(id, opts))!;
  }

  override async finalizeCancelled(): Promise<Job> {
    throw unsupported('cancelling a running job');
  }

  /** Renews the batches these claims name (an UPDATE of one row per batch, not per job). */
  override async renew(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<ClaimsHeartbeat> {
    if (claims.length === 0) return { cancelRequested: [], lost: [] };
    const batches = [...new Set(claims.map((c) => Math.floor(c.claimSeq / SEQ_SPAN)))];
    const { rows } = await (opts.db ?? this.#pool).query<{ batch_id: string }>(
      'UPDATE jobq.log_batch SET locked_at = now() WHERE batch_id = ANY ($1) AND worker = $2 AND lost_at IS NULL RETURNING batch_id', [batches, workerId],
    );
    const held = new Set(rows.map((r) => Number(r.batch_id)));
    const lost = claims.filter((c) => !held.has(Math.floor(c.claimSeq / SEQ_SPAN))).map((c) => c.claimSeq);
    for (const seq of lost) this.#pos.delete(seq);
    return { cancelRequested: [], lost };
  }

  /** Gives claims back: a `released` fail row and a new entry of the same attempt each. */
  override async release(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<Job[]> {
    const released: string[] = [];
    await this.#inTransaction(opts.db, async (c) => {
      for (const claim of claims) {
        let e: EntryRow;
        try {
          e = await this.#heldEntry(c, workerId, claim.claimSeq, claim.id);
        } catch {
          continue;
        }
        this.#pos.delete(claim.claimSeq);
        await c.query(`INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt) VALUES ($1, $2, $3, 'released', $4)`, [e.pos, e.id, Math.floor(claim.claimSeq / SEQ_SPAN), e.attempt]);
        await c.query(APPEND_AGAIN, [e.pos, e.attempt, e.id]);
        released.push(e.id);
      }
    });
    return Promise.all(released.map(async (id) => (await this.get(id, opts))!));
  }

  /**
   * Batches whose lease lapsed: each unfinished entry gets a `lost` fail row and a new entry of the
   * next attempt (or a failed_permanent row when out of attempts), and the batch is marked lost.
   * Finished batches are told by counts (done positions plus fail rows = n); a sweep resumes after
   * the last batch all of whose predecessors were examined (jobq.log_sweep).
   */
  override async recoverStale(staleAfterMs: number, opts: WriteOptions = {}): Promise<number> {
    let recovered = 0;
    await this.#inTransaction(opts.db, async (c) => {
      const { rows: [sweep] } = await c.query<{ through: string }>('SELECT through FROM jobq.log_sweep FOR UPDATE');
      const { rows } = await c.query<{ batch_id: string; stale: boolean; open: boolean }>(
        `SELECT b.batch_id, b.locked_at < now() - $2 * interval '1 ms' AS stale,
                b.n > coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
                    + (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id) AS open
           FROM jobq.log_batch b WHERE b.batch_id > $1 AND b.lost_at IS NULL ORDER BY b.batch_id`,
        [sweep!.through, staleAfterMs],
      );
      let through = sweep!.through;
      let contiguous = true;
      for (const b of rows) {
        if (b.stale && b.open) {
          const { rows: lost } = await c.query<{ pos: string; id: string; attempt: number; max_attempts: number }>(
            `WITH locked AS (UPDATE jobq.log_batch SET lost_at = now() WHERE batch_id = $1 AND lost_at IS NULL RETURNING batch_id)
             SELECT o.pos, o.id, o.attempt, o.max_attempts FROM locked, jobq.log_batch_open($1) o`,
            [b.batch_id],
          );
          for (const e of lost) {
            const out = e.attempt >= e.max_attempts;
            await c.query('INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, error) VALUES ($1, $2, $3, $4, $5, $6)', [e.pos, e.id, b.batch_id, out ? 'failed_permanent' : 'lost', e.attempt, 'worker lost']);
            if (!out) await c.query(APPEND_AGAIN, [e.pos, e.attempt + 1, e.id]);
          }
          recovered += lost.length;
        }
        contiguous &&= b.stale || !b.open;
        if (contiguous && b.stale) through = b.batch_id;
      }
      await c.query('UPDATE jobq.log_sweep SET through = $1', [through]);
    });
    return recovered;
  }

  /** Drops every generation all of whose entries finished before now − the shortest retention. */
  override async prune(retention: Retention): Promise<number> {
    const kept = Object.values(retention).filter((v): v is number => v !== null);
    if (kept.length === 0) return 0;
    const c = await this.#pool.connect();
    try {
      return await dropGenerations(c, new Date(Date.now() - Math.min(...kept)));
    } finally {
      c.release();
    }
  }

  /** Recovery, due scheduled entries (also moved by claims), rotation and retention, by one process at a time. */
  override async sweep(staleAfterMs: number, retention?: Retention): Promise<{ recovered: number; pruned: number } | null> {
    const c = await this.#pool.connect();
    try {
      if (!(await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('jobq.log sweep')) AS ok")).rows[0]!.ok) return null;
      try {
        const recovered = await this.recoverStale(staleAfterMs);
        await c.query('SELECT jobq.log_move_due(queue) FROM (SELECT DISTINCT queue FROM jobq.log_cursor) q');
        const { rows: [g] } = await c.query<{ old: boolean }>("SELECT created_at < now() - $1 * interval '1 ms' AS old FROM jobq.log_gen ORDER BY gen DESC LIMIT 1", [this.#rotateMs]);
        if (g?.old) await rotate(c);
        await archiveGenerations(c); // finished generations leave the hot parents whatever the retention
        const pruned = retention ? await dropGenerations(c, new Date(Date.now() - Math.min(...Object.values(retention).filter((v): v is number => v !== null)))) : 0;
        return { recovered, pruned };
      } finally {
        await c.query("SELECT pg_advisory_unlock(hashtext('jobq.log sweep'))");
      }
    } finally {
      c.release();
    }
  }

  override async get(id: string, opts: WriteOptions = {}): Promise<Job | null> {
    const { rows } = await (opts.db ?? this.#readPool).query<DerivedRow>('SELECT * FROM jobq.log_job($1)', [id]);
    return rows[0] ? toJob(rows[0]) : null;
  }

  /** Newest first by id, across the log and the scheduled entries; only `limit` and `cursor` (an id). */
  override async list(filter: ListFilter = {}, opts: WriteOptions = {}): Promise<JobPage> {
    for (const key of ['status', 'kind', 'queue', 'group', 'idempotencyKey'] as const) if (filter[key] !== undefined) throw unsupported(`listing by ${key}`);
    const limit = filter.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new JobqError('validation_failed', 'limit must be 1..500');
    const db = opts.db ?? this.#readPool;
    const { rows } = await db.query<DerivedRow>(LIST, [limit, filter.cursor ?? null]);
    return { jobs: rows.map(toJob), nextCursor: rows.length === limit ? rows.at(-1)!.id : null };
  }

  /** A queued or retrying job: a `cancelled` fail row (its scheduled entry moved into the log first), under its queue's cursor lock. */
  override async requestCancel(id: string, opts: WriteOptions = {}): Promise<CancelOutcome> {
    let outcome: 'cancelled' | 'already_terminal' = 'cancelled';
    await this.#inTransaction(opts.db, async (c) => {
      const { rows: [j] } = await c.query<{ status: JobStatus; queue: string; pos: string; attempts: number }>('SELECT status, queue, pos, attempts FROM jobq.log_job($1)', [id]);
      if (!j) throw new JobqError('not_found', `job ${id} not found`);
      await c.query('SELECT FROM jobq.log_cursor WHERE queue = $1 ORDER BY lane FOR UPDATE', [j.queue]); // every lane: no claim takes it meanwhile
      const { rows: [now] } = await c.query<{ status: JobStatus }>('SELECT status FROM jobq.log_job($1)', [id]);
      if (now!.status === 'running') throw unsupported('cancelling a running job');
      if (now!.status !== 'queued' && now!.status !== 'retrying') {
        outcome = 'already_terminal';
        return;
      }
      await c.query(
        `WITH moved AS (DELETE FROM jobq.log_scheduled WHERE id = $1 RETURNING *)
         INSERT INTO jobq.log (pos, ${ENTRY_COLUMNS}) SELECT pos, ${ENTRY_COLUMNS} FROM moved`,
        [id],
      );
      await c.query(`INSERT INTO jobq.log_fail (pos, id, status, attempt) SELECT pos, id, 'cancelled', attempt FROM jobq.log WHERE id = $1 ORDER BY pos DESC LIMIT 1`, [id]);
    });
    const job = (await this.get(id, opts))!;
    return outcome === 'cancelled' ? { outcome, job } : { outcome, status: job.status as 'succeeded' | 'failed_permanent' | 'cancelled', job };
  }

  /** failed_permanent or cancelled → queued: a new entry, attempts reset; one retry of a job at a time (an advisory lock on its id). */
  override async retry(id: string, opts: WriteOptions = {}): Promise<Job> {
    await this.#inTransaction(opts.db, async (c) => {
      // No row of the job to lock (entries are only appended): two retries of one job would both append.
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [id]);
      const { rows: [j] } = await c.query<{ status: JobStatus; pos: string }>('SELECT status, pos FROM jobq.log_job($1)', [id]);
      if (!j) throw new JobqError('not_found', `job ${id} not found`);
      if (j.status !== 'failed_permanent' && j.status !== 'cancelled') throw new JobqError('invalid_transition', `cannot retry job ${id}: it is ${j.status}`);
      await c.query(APPEND_AGAIN, [j.pos, 1, id]);
    });
    return (await this.get(id, opts))!;
  }

  override progress(): Promise<boolean> {
    throw unsupported('progress');
  }

  override claimLimited(): never {
    throw unsupported('queue policies and groups (claimLimited)');
  }

  /** No queue here has a policy or groups: the Worker claims everything through `claim`. */
  override async flowQueues(): Promise<[]> {
    return [];
  }

  override setQueue(): never {
    throw unsupported('queue policies');
  }

  override getQueue(): never {
    throw unsupported('queue reads');
  }

  override listQueues(): never {
    throw unsupported('queue reads');
  }

  override stats(): never {
    throw unsupported('stats');
  }

  override parents(): never {
    throw unsupported('flows');
  }

  /** The entry a claim holds (locking its batch against recovery); invalid_transition when no longer held. */
  async #heldEntry(c: pg.ClientBase, workerId: string, claimSeq: number, id: string): Promise<EntryRow> {
    const { rows: [e] } = await c.query<EntryRow>(HELD_ENTRY, [Math.floor(claimSeq / SEQ_SPAN), workerId, this.#pos.get(claimSeq) ?? null, id]);
    if (!e || e.id !== id) throw new JobqError('invalid_transition', `job ${id} is not held under claim ${claimSeq}`);
    return e;
  }

  async #inTransaction(db: WriteOptions['db'], work: (c: pg.ClientBase) => Promise<void>): Promise<void> {
    if (db) return work(db as pg.ClientBase);
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      await work(c);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }
}
