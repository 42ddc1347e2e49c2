/**
 * Keyed enqueues: one job with a singleton key or a debounce key (statements/keyed.ts), one statement
 * per job. Used by enqueue.ts only; a job without either key never comes here.
 */
import { JobqError } from '../errors.ts';
import { toJob, type InsertRow } from './rows.ts';
import * as SQL from './statements/keyed.ts';
import type { EnqueueResult, Queryable } from './types.ts';
import { idempotencyConflict, type JobKey } from './validate.ts';

/**
 * How many times a keyed statement runs before giving up. It comes back empty only when the job it
 * conflicted with changed in the same instant (committed after its snapshot, finished, claimed); the
 * next run sees the new state. Two runs settle every race seen in the tests; this bound is for
 * pathological churn, and only stops a loop.
 */
export const KEYED_TRIES = 10;

/** What a keyed enqueue came to, and whether the job it wrote is runnable now (its queue to wake). */
export interface KeyedOutcome {
  result: EnqueueResult | JobqError;
  runnable: boolean;
}

/**
 * Enqueues `row` (`json`: its JSON) under `key`: the job made, found or rewritten, or an
 * idempotency_conflict (the idempotency key names a job of another kind or payload). With `notify` the
 * statement itself wakes the job's queue when it is runnable.
 */
export async function enqueueKeyed(db: Queryable, row: InsertRow, json: string, key: JobKey, notify: boolean, now: Date | null): Promise<KeyedOutcome> {
  for (let i = 0; i < KEYED_TRIES; i++) {
    const [found] = 'singletonKey' in key
      ? await SQL.enqueueSingleton(db, { row: json, singletonKey: key.singletonKey, notify, now })
      : await SQL.enqueueDebounced(db, { row: json, debounceKey: key.debounceKey, debounceMs: key.debounceMs, notify, now });
    if (!found) continue;
    const job = toJob(found);
    if (!found.same) {
      return { result: idempotencyConflict(row.idempotency_key!, job.id, row.ord), runnable: false };
    }
    return { result: { job, isNew: found.outcome === 'created', outcome: found.outcome }, runnable: found.runnable };
  }
  const [name, value] = 'singletonKey' in key ? ['singleton', key.singletonKey] : ['debounce', key.debounceKey];
  throw new JobqError('database_unavailable', `the job holding ${name} key "${value}" kept changing while this enqueue read it; try again`);
}
