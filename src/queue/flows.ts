/**
 * Enqueueing jobs that depend on others (docs/flows.md): the checks of `dependsOn` and
 * `onParentFailure`, and the statements that make such jobs inside the enqueue's transaction (their
 * parents locked first, then the jobs with their edges). Used by enqueue.ts only; jobs without parents
 * never come here.
 */
import { type ErrorDetail, JobqError } from '../errors.ts';
import { MAX_DEPENDS_ON, ON_PARENT_FAILURE, type OnParentFailure } from '../limits.ts';
import { jobsPayload } from './channels.ts';
import { type InsertRow, rowJson, toJob } from './rows.ts';
import { findByKeys } from './statements/enqueue.ts';
import * as SQL from './statements/flows.ts';
import type { EnqueueResult, NewJob, ParentJob, Queryable } from './types.ts';
import { idempotencyConflict, isUuid, sameJob } from './validate.ts';

/** A job's parents as given: ids (lower case), or the index in the batch of an earlier entry (`#i`). */
export interface ParentRefs {
  refs: (string | number)[];
  policy: OnParentFailure;
}

/** What inserting one entry came to (as in enqueue.ts). */
export type RowOutcome = EnqueueResult | JobqError;

const BATCH_REF = /^#(0|[1-9][0-9]{0,5})$/;

/**
 * The parents of entry `index` of a batch (0 for a single job), checked: 1 to MAX_DEPENDS_ON distinct
 * ids or `#i` of an earlier entry, a known policy, and no singleton or debounce key beside them. Null
 * for a job without parents. Throws validation_failed naming the field, with the job's `index`.
 */
export function prepareParents(job: NewJob, index: number): ParentRefs | null {
  const fail = (path: string, message: string): never => {
    throw new JobqError('validation_failed', `invalid job: ${path.slice(1)} ${message}`, [{ path, message, index }]);
  };
  const { dependsOn, onParentFailure } = job;
  if (dependsOn === undefined) {
    if (onParentFailure !== undefined) fail('/on_parent_failure', 'needs depends_on');
    return null;
  }
  if (!Array.isArray(dependsOn) || dependsOn.length < 1 || dependsOn.length > MAX_DEPENDS_ON) {
    fail('/depends_on', `must list 1 to ${MAX_DEPENDS_ON} jobs`);
  }
  if (job.singletonKey !== undefined) fail('/depends_on', 'cannot be given with singleton_key');
  if (job.debounceKey !== undefined) fail('/depends_on', 'cannot be given with debounce_key');
  const policy = onParentFailure ?? 'cancel';
  if (!(ON_PARENT_FAILURE as readonly unknown[]).includes(policy)) fail('/on_parent_failure', `must be one of ${ON_PARENT_FAILURE.join(', ')}`);
  const seen = new Set<string | number>();
  const refs = dependsOn.map((given: unknown, k) => {
    const path = `/depends_on/${k}`;
    let ref: string | number | undefined;
    if (isUuid(given)) ref = given.toLowerCase();
    else if (typeof given === 'string' && BATCH_REF.test(given)) ref = Number(given.slice(1));
    else return fail(path, 'must be a job id, or #i for entry i of the batch');
    if (typeof ref === 'number' && ref >= index) {
      fail(path, index === 0 ? 'names an entry of the batch, and this is its first job: only earlier entries can be named' : `must name an earlier entry of the batch (#0 to #${index - 1})`);
    }
    if (seen.has(ref)) fail(path, `names ${String(given)} twice`);
    seen.add(ref);
    return ref;
  });
  return { refs, policy };
}

interface FlowOptions {
  /** Characters of JSON one statement carries at most (enqueue.ts MAX_INSERT_CHARS). */
  maxChars: number;
  notify: boolean;
  /** JOBS_CHANNEL payloads of the queues to wake after the commit. */
  wake: Set<string>;
  now: Date | null;
}

/**
 * Inserts the entries of `rows` that have parents (`parents[i]` not null), inside the caller's
 * transaction, once every other entry has its outcome in `out` (by `ord`); fills `out` for them. The
 * parents given by id are locked first, all at once (in id order), and must exist; then the entries go
 * in order, in as few statements as `#i` references allow (an entry that names one of the same
 * statement starts the next), each statement after a lock of the batch's own jobs it names.
 */
export async function insertFlows(db: Queryable, rows: InsertRow[], parents: (ParentRefs | null)[], out: RowOutcome[], o: FlowOptions): Promise<void> {
  const given = [...new Set(parents.flatMap((p) => p?.refs.filter((r): r is string => typeof r === 'string') ?? []))];
  const found = new Set(given.length > 0 ? (await SQL.lockParents(db, { ids: given })).map((r) => r.id) : []);
  // Parents the log store holds are taken in (log/parents.sql): a waiting one is a row after it, and locked as one.
  const notRows = given.filter((id) => !found.has(id));
  const adopted = notRows.length > 0 ? await SQL.adoptLogParents(db, { ids: notRows, now: o.now }) : [];
  const moved = adopted.filter((a) => a.status === 'moved').map((a) => a.id);
  if (moved.length > 0) for (const r of await SQL.lockParents(db, { ids: moved })) found.add(r.id);
  const logged: Record<string, string> = Object.fromEntries(adopted.filter((a) => a.status !== 'moved').map((a) => [a.id, a.status]));
  const missing: ErrorDetail[] = [];
  parents.forEach((p, index) =>
    p?.refs.forEach((r, k) => {
      if (typeof r === 'string' && !found.has(r) && !(r in logged)) missing.push({ path: `/depends_on/${k}`, message: `no job with id ${r}`, index });
    }),
  );
  if (missing.length > 0) {
    throw new JobqError('validation_failed', `depends_on names ${missing.length === 1 ? 'a job that does not exist' : `${missing.length} jobs that do not exist`}: ${missing[0]!.message}`, missing);
  }
  const flow = { ...o, logged: JSON.stringify(logged) };
  let chunk: number[] = [];
  let inChunk = new Set<number>();
  for (const [i, p] of parents.entries()) {
    if (!p) continue;
    if (p.refs.some((r) => typeof r === 'number' && inChunk.has(r))) {
      await insertChunk(db, rows, parents, chunk, out, flow);
      chunk = [];
      inChunk = new Set();
    }
    chunk.push(i);
    inChunk.add(i);
  }
  if (chunk.length > 0) await insertChunk(db, rows, parents, chunk, out, flow);
}

/** One statement's entries (`chunk`: their indexes), their `#i` resolved to the jobs those entries came to. */
async function insertChunk(db: Queryable, rows: InsertRow[], parents: (ParentRefs | null)[], chunk: number[], out: RowOutcome[], o: ChunkOptions): Promise<void> {
  const local = new Set<string>();
  const input = chunk.map((i) => {
    const { refs, policy } = parents[i]!;
    const ids = refs.map((r) => {
      if (typeof r === 'string') return r;
      const earlier = out[r];
      if (earlier instanceof JobqError) throw earlier; // all or nothing: the batch fails with it
      local.add(earlier!.job.id);
      return earlier!.job.id;
    });
    // `#i` of an entry answered by an existing job (its idempotency key) names that job, maybe also given by id.
    const twice = ids.findIndex((id, k) => ids.indexOf(id) !== k);
    if (twice >= 0) throw new JobqError('validation_failed', `depends_on names job ${ids[twice]} twice`, [{ path: `/depends_on/${twice}`, message: `names job ${ids[twice]} twice`, index: i }]);
    return { ...rows[i]!, depends_on: ids, on_parent_failure: policy } as FlowRow;
  });
  if (local.size > 0) {
    const ids = [...local];
    const locked = await SQL.lockParents(db, { ids });
    if (locked.length < ids.length) throw new JobqError('database_unavailable', 'a job of the batch was deleted while the batch named it; try again');
  }
  // In statements of at most about maxChars characters of JSON (one row may be larger alone).
  let group: FlowRow[] = [];
  let chars = 0;
  for (const row of input) {
    const text = rowJson(row);
    if (text instanceof JobqError) throw text; // a row that has no JSON fails the batch, naming its entry
    if (group.length > 0 && chars + text.length > o.maxChars) {
      await insertRows(db, group, out, o);
      group = [];
      chars = 0;
    }
    group.push(Object.assign(row, { text }));
    chars += text.length + 1;
  }
  if (group.length > 0) await insertRows(db, group, out, o);
}

/** FlowOptions, and the log store's parents of the batch with their statuses (JSON by id). */
type ChunkOptions = FlowOptions & { logged: string };

type FlowRow = InsertRow & { depends_on: string[]; on_parent_failure: OnParentFailure; text?: string };

/** Inserts rows of one statement; an idempotency key held already answers with its job, as for jobs without parents. */
async function insertRows(db: Queryable, rows: FlowRow[], out: RowOutcome[], o: ChunkOptions): Promise<void> {
  for (let pending = rows, tries = 0; pending.length > 0; tries++) {
    if (tries >= 10) throw new JobqError('database_unavailable', 'the jobs holding these idempotency keys kept vanishing while this enqueue read them; try again');
    const input = `[${pending.map((r) => r.text).join(',')}]`;
    const inserted = new Map((await SQL.insertWithParents(db, { input, logged: o.logged, notify: o.notify, now: o.now })).map((r) => [r.id, r]));
    const skipped: FlowRow[] = [];
    for (const r of pending) {
      const row = inserted.get(r.id);
      if (!row) {
        skipped.push(r);
        continue;
      }
      if (row.runnable) o.wake.add(jobsPayload(row.queue, row.group_key !== null));
      out[r.ord] = { job: toJob(row), isNew: true, outcome: 'created' };
    }
    pending = [];
    if (skipped.length === 0) break;
    const asked = Object.fromEntries(skipped.map((r) => [r.idempotency_key, { kind: r.kind, payload: r.payload }]));
    const byKey = new Map((await findByKeys(db, { keys: Object.keys(asked), asked: JSON.stringify(asked) })).map((f) => [f.idempotency_key, f]));
    for (const r of skipped) {
      const f = byKey.get(r.idempotency_key);
      if (!f) pending.push(r); // its job was deleted (retention) since: inserted again
      else out[r.ord] = f.same && sameJob(toJob(f), r) ? { job: toJob(f), isNew: false, outcome: 'idempotent_replay' } : idempotencyConflict(r.idempotency_key!, f.id, r.ord);
    }
  }
}

/** A job's parents as its handler reads them (Queue.parents). */
export async function parentsOf(db: Queryable, id: string): Promise<ParentJob[]> {
  if (!isUuid(id)) return [];
  return (await SQL.parentsOf(db, { id })).map((r) => ({ id: r.id, kind: r.kind, status: r.status, result: r.result ?? null }));
}
