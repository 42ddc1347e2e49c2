/**
 * Enqueueing: one INSERT for a single job or a batch (the rows travel as one JSON array), the look-up
 * of jobs whose idempotency key already existed, and the wake-up of workers. Jobs with a singleton or
 * debounce key go one statement each (keyed.ts); jobs with parents, in a transaction that locks the
 * parents first (flows.ts). Used by Queue only.
 */
import type pg from 'pg';
import type { KindRegistry } from '../kinds/registry.ts';
import { Coalescer } from '../lib/coalescer.ts';
import { inTransaction } from './db.ts';
import { isJobqError, JobqError } from '../errors.ts';
import { MAX_BATCH } from '../limits.ts';
import { captureContext } from '../tracing.ts';
import { jobsPayload } from './channels.ts';
import { committed, eventTime, jobEvent } from './events/publish.ts';
import type { Publisher } from './events/publisher.ts';
import { newJobId } from './ids.ts';
import { insertFlows, type ParentRefs, prepareParents } from './flows.ts';
import { enqueueKeyed } from './keyed.ts';
import { type InsertRow, newJobFromInsert, rowJson, toJob } from './rows.ts';
import * as LogSQL from './log/statements.ts';
import * as SQL from './statements/enqueue.ts';
import type { EnqueueResult, NewJob, Queryable, WriteOptions } from './types.ts';
import { idempotencyConflict, type JobKey, prepareInsert, prepareKey, sameJob } from './validate.ts';

export { MAX_BATCH };
/**
 * An INSERT statement carries at most about this many characters of JSON (one row may be larger
 * alone). Concurrent single enqueues coalesce into one batch; at 1 MiB each, a batch of a thousand
 * serialised into one string passed Node's string limit (about 512 Mi characters), and every caller
 * got 400 payload_invalid for what was no fault of theirs (issue #14, item 11).
 */
export const MAX_INSERT_CHARS = 32 * 1_048_576;

/** What inserting one row came to: the job (new, or the one holding its key), or a conflict. */
type RowOutcome = EnqueueResult | JobqError;

/** The statements of one write, on `db`; `notify`: in the statements; else the queues to wake go in `wake`. */
type Work = (db: Queryable, notify: boolean, wake: Set<string>) => Promise<RowOutcome[]>;

export interface EnqueuerOptions {
  pool: pg.Pool;
  kinds: KindRegistry;
  /** The time the database should take as "now" (null: its own clock). */
  now: () => Date | null;
  /** Called for every job inserted or found by its key. */
  onEnqueued: (result: EnqueueResult) => void;
  /** Where the `enqueued` events of the jobs made go. */
  publisher: Publisher;
  /** The log store is on: plain jobs go to it, every one (`all`) or those of busy queues (log/statements.ts insertRouted). */
  log: { readonly all: boolean } | null;
}

export class Enqueuer {
  readonly #o: EnqueuerOptions;
  /** Coalesced wake-ups: one NOTIFY in flight; queues named meanwhile go together in the next. */
  readonly #notifier: Coalescer<string, void>;
  readonly #singles: Coalescer<InsertRow, EnqueueResult>;
  #inFlight = 0;

  constructor(options: EnqueuerOptions) {
    this.#o = options;
    // A lost notification only delays a start until the workers' next poll: errors are dropped.
    this.#notifier = new Coalescer<string, void>(async (queues) => {
      await SQL.notifyQueues(this.#o.pool, { queues: [...new Set(queues)] }).catch(() => {});
      return queues.map(() => undefined);
    }, 1);
    // Concurrent single enqueues share statements; each row keeps its own outcome (no all-or-nothing).
    this.#singles = new Coalescer<InsertRow, EnqueueResult>(async (rows) => {
      const outcomes = await this.#insertRows(rows.map((r, ord) => ({ ...r, ord })), undefined, false, false);
      return outcomes.map((o) => (o instanceof JobqError ? withoutIndex(o) : o));
    }, 2, MAX_BATCH, (err) => isJobqError(err, 'database_unavailable'));
  }

  /** See Queue.enqueue. */
  async one(job: NewJob, opts: WriteOptions = {}): Promise<EnqueueResult> {
    if (opts.db) return (await this.many([job], opts))[0]!;
    // The caller's trace context, now: before any await, while its span is the active one.
    const row = prepareInsert(job, 0, newJobId(), this.#o.kinds, captureContext());
    const key = prepareKey(job, 0);
    const parents = prepareParents(job, 0);
    if (parents !== null) {
      const work: Work = (db, notify, wake) => this.#insertFlows([row], [key], [parents], notify, wake, db);
      const [out] = await this.#write(undefined, true, true, work).catch((err: unknown) => Promise.reject(err instanceof JobqError ? withoutIndex(err) : err));
      return out as EnqueueResult;
    }
    if (key === null) return this.#singles.add(row);
    const [out] = await this.#write(undefined, false, false, (db, notify, wake) => this.#insertKeyed([row], [key], notify, wake, db));
    if (out instanceof JobqError) throw withoutIndex(out);
    return out!;
  }

  /** See Queue.enqueueMany. */
  async many(jobs: NewJob[], opts: WriteOptions = {}): Promise<EnqueueResult[]> {
    if (!Array.isArray(jobs) || jobs.length < 1 || jobs.length > MAX_BATCH) {
      throw new JobqError('validation_failed', `a batch holds 1 to ${MAX_BATCH} jobs`, [{ path: '/jobs', message: `must hold 1 to ${MAX_BATCH} jobs` }]);
    }
    const trace = captureContext();
    const rows = jobs.map((job, i) => prepareInsert(job, i, newJobId(), this.#o.kinds, trace));
    const keys = jobs.map((job, i) => prepareKey(job, i));
    const parents = jobs.map((job, i) => prepareParents(job, i));
    if (parents.some((p) => p !== null)) {
      // Jobs with parents: always in a transaction (their parents stay locked until it commits).
      const work: Work = (db, notify, wake) => this.#insertFlows(rows, keys, parents, notify, wake, db);
      return (await this.#write(opts.db, !opts.db, true, work)) as EnqueueResult[];
    }
    if (keys.some((k) => k !== null)) {
      // A keyed job's outcome is its own statement's; a batch with one goes in a transaction.
      const work: Work = (db, notify, wake) => this.#insertKeyed(rows, keys, notify, wake, db);
      return (await this.#write(opts.db, rows.length > 1 && !opts.db, true, work)) as EnqueueResult[];
    }
    // The batch as one statement's input when it fits; else each row's JSON (none: the batch fails).
    let input: string | string[] | undefined = wholeJson(rows);
    if (input === undefined) {
      input = rows.map((r) => {
        const text = rowJson(r);
        if (text instanceof JobqError) throw text;
        return text;
      });
    }
    // Without keys nothing conflicts: one statement is atomic. With keys (a conflict found after the
    // insert undoes it) or several statements, a transaction (a single job never needs one).
    const atomic = rows.length > 1 && !opts.db && (typeof input !== 'string' || rows.some((r) => r.idempotency_key !== null));
    // Conflicts throw (all or nothing): what comes back is one job per row.
    return (await this.#insertRows(rows, opts.db, atomic, true, input)) as EnqueueResult[];
  }

  /** Inserts rows and reports per row: the job, or an idempotency_conflict error (thrown instead when `allOrNothing`). */
  #insertRows(rows: InsertRow[], db: Queryable | undefined, transaction: boolean, allOrNothing: boolean, input?: string | string[]): Promise<RowOutcome[]> {
    return this.#write(db, transaction, allOrNothing, (client, notify, wake) => this.#insert(rows, input, notify, wake, client));
  }

  /**
   * Runs one write's statements (`work`) and reports per row; wakes the queues of runnable jobs; emits
   * `enqueued`, and publishes the `enqueued` event of each job made (once committed).
   */
  async #write(db: Queryable | undefined, transaction: boolean, allOrNothing: boolean, work: Work): Promise<RowOutcome[]> {
    // Inside the caller's transaction, or when no other enqueue is under way, the insert notifies
    // itself: the notification leaves with the commit (one round trip, lowest latency). Under
    // concurrency, enqueues notify after their commits, coalesced, so that NOTIFY's commit-time lock
    // does not serialise them.
    const notifyInStatement = db !== undefined || (this.#inFlight === 0 && this.#notifier.idle);
    const wake = new Set<string>();
    const attempt = async (client: Queryable) => {
      const out = await work(client, notifyInStatement, wake);
      const conflict = out.find((r) => r instanceof JobqError);
      if (allOrNothing && conflict) throw conflict; // inside the transaction: undoes the batch
      return out;
    };
    this.#inFlight++;
    let results: RowOutcome[];
    try {
      results = transaction ? await inTransaction(this.#o.pool, attempt) : await attempt(db ?? this.#o.pool);
    } finally {
      this.#inFlight--;
    }
    if (!notifyInStatement) for (const q of wake) void this.#notifier.add(q);
    for (const r of results) if (!(r instanceof JobqError)) this.#o.onEnqueued(r);
    const publisher = this.#o.publisher;
    if (publisher.active && committed(db)) {
      const at = eventTime(this.#o.now());
      for (const r of results) if (!(r instanceof JobqError) && r.outcome === 'created') publisher.publish(jobEvent('enqueued', r.job, r.job.status, at));
    }
    return results;
  }

  /** A batch holding jobs with parents: the others first, as usual, then those (flows.ts insertFlows). */
  async #insertFlows(rows: InsertRow[], keys: (JobKey | null)[], parents: (ParentRefs | null)[], notify: boolean, wake: Set<string>, db: Queryable): Promise<RowOutcome[]> {
    // Parents are rows (flows settle them by their rows): an entry a later one names stays one.
    const named = new Set(parents.flatMap((p) => p?.refs.filter((r): r is number => typeof r === 'number') ?? []));
    const others = rows.filter((r) => parents[r.ord] === null).map((r) => (named.has(r.ord) ? { ...r, row_store: true as const } : r));
    const out = others.length > 0 ? await this.#insertKeyed(others, others.map((r) => keys[r.ord] ?? null), notify, wake, db) : [];
    await insertFlows(db, rows, parents, out, { maxChars: MAX_INSERT_CHARS, notify, wake, now: this.#o.now() });
    return out;
  }

  /**
   * A batch holding keyed jobs: the others in one insert as usual, then each keyed job in its own
   * statement, in order (so that two jobs of the batch with one key meet as any two enqueues would).
   */
  async #insertKeyed(rows: InsertRow[], keys: (JobKey | null)[], notify: boolean, wake: Set<string>, db: Queryable): Promise<RowOutcome[]> {
    const plain = rows.filter((_r, i) => keys[i] === null);
    const out: RowOutcome[] = plain.length > 0 ? await this.#insert(plain, undefined, notify, wake, db) : [];
    for (const [i, r] of rows.entries()) {
      const key = keys[i];
      if (!key) continue;
      const json = rowJson(r);
      if (json instanceof JobqError) {
        out[r.ord] = json;
        continue;
      }
      const { result, runnable } = await enqueueKeyed(db, r, json, key, notify, this.#o.now());
      if (runnable && !(result instanceof JobqError)) wake.add(jobsPayload(result.job.queue, result.job.group !== null));
      out[r.ord] = result;
    }
    return out;
  }

  /**
   * The inserts, then the look-up of jobs whose idempotency key existed. Collects the queues to wake.
   * `input` is the whole batch's JSON (one statement: the common case), or each row's, or nothing
   * (then the batch is serialised here). When the whole batch cannot be one string (a row that is not
   * JSON, or Node's string limit) or is larger than MAX_INSERT_CHARS, rows are serialised one by one
   * and go in statements of at most about MAX_INSERT_CHARS: a row that has no JSON fails alone.
   */
  async #insert(rows: InsertRow[], input: string | string[] | undefined, notify: boolean, wake: Set<string>, db: Queryable): Promise<RowOutcome[]> {
    const out: RowOutcome[] = new Array(rows.length);
    const whole = input === undefined ? wholeJson(rows) : typeof input === 'string' ? input : undefined;
    if (whole !== undefined) {
      await this.#insertChunk(rows, whole, notify, wake, db, out);
      return out;
    }
    let chunk: InsertRow[] = [];
    let texts: string[] = [];
    let chars = 0;
    for (const [i, r] of rows.entries()) {
      const text = Array.isArray(input) ? input[i]! : rowJson(r);
      if (text instanceof JobqError) {
        out[r.ord] = text;
        continue;
      }
      if (chunk.length > 0 && chars + text.length > MAX_INSERT_CHARS) {
        await this.#insertChunk(chunk, `[${texts.join(',')}]`, notify, wake, db, out);
        chunk = [];
        texts = [];
        chars = 0;
      }
      chunk.push(r);
      texts.push(text);
      chars += text.length + 1;
    }
    if (chunk.length > 0) await this.#insertChunk(chunk, `[${texts.join(',')}]`, notify, wake, db, out);
    return out;
  }

  /**
   * One statement's rows (`input`: their JSON array). A key's job can be deleted (retention) after the
   * insert skipped its row and before the look-up: only those rows are inserted again, on the same
   * connection (so inside the same transaction when there is one); rows already inserted are never
   * sent twice.
   */
  async #insertChunk(rows: InsertRow[], input: string, notify: boolean, wake: Set<string>, db: Queryable, out: RowOutcome[]): Promise<void> {
    for (let pending = rows; pending.length > 0; ) {
      pending = await this.#insertOnce(pending, input, notify, wake, db, out);
      if (pending.length > 0) input = JSON.stringify(pending);
    }
  }

  /** One INSERT and its look-up: fills `out` (by `ord`); returns the rows whose key's job vanished. */
  async #insertOnce(rows: InsertRow[], input: string, notify: boolean, wake: Set<string>, db: Queryable, out: RowOutcome[]): Promise<InsertRow[]> {
    const inserted = this.#o.log
      ? await LogSQL.insertRouted(db, { input, notify, all: this.#o.log.all, now: this.#o.now() })
      : await SQL.insert(db, { input, notify, now: this.#o.now() });
    const byId = new Map(inserted.map((r) => [r.id, r]));
    // The payloads as the database stored them: JSON's reading of what was sent (a Date becomes its
    // string, an undefined property goes), not the caller's objects.
    const sent = JSON.parse(input) as { payload: unknown }[];
    const missing: InsertRow[] = [];
    rows.forEach((r, i) => {
      const ins = byId.get(r.id);
      if (!ins) return void missing.push(r);
      if (ins.runnable) wake.add(jobsPayload(r.queue, r.group_key !== null));
      out[r.ord] = { job: newJobFromInsert(r, sent[i]!.payload ?? null, ins), isNew: true, outcome: 'created' };
    });
    if (missing.length === 0) return [];
    const asked = Object.fromEntries(missing.map((r) => [r.idempotency_key, { kind: r.kind, payload: r.payload }]));
    const found = await SQL.findByKeys(db, { keys: Object.keys(asked), asked: JSON.stringify(asked) });
    const byKey = new Map(found.map((f) => [f.idempotency_key, f]));
    const vanished: InsertRow[] = [];
    for (const r of missing) {
      const f = byKey.get(r.idempotency_key);
      if (!f) {
        vanished.push(r);
        continue;
      }
      // `same` is the database's jsonb comparison; the second check covers several entries of one
      // batch that share a key, of which the statement could only compare one.
      out[r.ord] = f.same && sameJob(toJob(f), r)
        ? { job: toJob(f), isNew: false, outcome: 'idempotent_replay' }
        : idempotencyConflict(r.idempotency_key!, f.id, r.ord);
    }
    return vanished;
  }
}

/** The batch's JSON for one INSERT; undefined when it is not one (a row is not JSON, or past Node's string limit) or too large for one statement. */
function wholeJson(rows: InsertRow[]): string | undefined {
  try {
    const json = JSON.stringify(rows);
    return json.length <= MAX_INSERT_CHARS ? json : undefined;
  } catch {
    return undefined;
  }
}

/** A single enqueue's error carries no batch index. */
function withoutIndex(err: JobqError): JobqError {
  return new JobqError(err.kind, err.message, err.details?.map(({ index: _index, ...d }) => d));
}
