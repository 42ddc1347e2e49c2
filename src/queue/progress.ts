/**
 * Progress (issue #19, item 2): a running job's handler reports how far it has got; the report is
 * stored on the job (`jobs.progress`: `{value, current?, total?, message?, at}`) and published as a
 * `progress` event. The worker rate-limits a handler's reports (src/worker/progress.ts); this is one
 * write, guarded by the claim.
 */
import { JobqError } from '../errors.ts';
import type { QueueContext } from './context.ts';
import { committed, eventTime, jobEvent } from './events/publish.ts';
import { type JobProgress, PROGRESS_MESSAGE_MAX } from './events/types.ts';
import * as LogSQL from './log/statements.ts';
import * as Log from './log/store.ts';
import * as SQL from './statements/progress.ts';
import type { WorkerWriteOptions } from './types.ts';
import { isUuid } from './validate.ts';

/** What a handler reports: a fraction from 0 to 1, or a count out of a total (value = current / total). */
export type ProgressValue = number | { current: number; total: number };

export interface ProgressOptions extends WorkerWriteOptions {
  /** At most PROGRESS_MESSAGE_MAX characters. */
  message?: string;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Checks a report and gives its stored form (without `at`). Throws a TypeError for a value or message
 * of the wrong type, and validation_failed for one out of range. A message's NUL characters and lone
 * surrogates (which jsonb refuses) become U+FFFD.
 */
export function toProgress(value: unknown, message?: unknown): JobProgress {
  let progress: JobProgress;
  if (typeof value === 'number') {
    if (!(value >= 0 && value <= 1)) throw invalid('/value', `progress must be a number from 0 to 1, got ${value}`);
    progress = { value };
  } else if (value !== null && typeof value === 'object') {
    const { current, total } = value as { current?: unknown; total?: unknown };
    if (typeof current !== 'number' || typeof total !== 'number') {
      throw new TypeError(`progress { current, total } takes two numbers, got current: ${typeof current}, total: ${typeof total}`);
    }
    if (!(Number.isFinite(total) && total > 0)) throw invalid('/total', `progress total must be a number above 0, got ${total}`);
    if (!(current >= 0 && current <= total)) throw invalid('/current', `progress current must be from 0 to total (${total}), got ${current}`);
    progress = { value: current / total, current, total };
  } else {
    throw new TypeError(`progress takes a number from 0 to 1 or { current, total }, got ${value === null ? 'null' : typeof value}`);
  }
  if (message !== undefined) {
    if (typeof message !== 'string') throw new TypeError(`a progress message must be a string, got ${typeof message}`);
    if (message.length > PROGRESS_MESSAGE_MAX) {
      throw invalid('/message', `a progress message has at most ${PROGRESS_MESSAGE_MAX} characters, got ${message.length}`);
    }
    progress.message = message.replaceAll('\0', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
  }
  return progress;
}

/** See Queue.progress. */
export async function setProgress(ctx: QueueContext, id: string, value: ProgressValue, opts: ProgressOptions = {}): Promise<boolean> {
  const progress = toProgress(value, opts.message);
  if (!isUuid(id)) return false;
  const at = eventTime(ctx.now());
  const stored = JSON.stringify({ ...progress, at });
  const db = opts.db ?? ctx.pool;
  let [row] = ctx.log !== null && opts.claimSeq !== undefined && Log.isLogClaim(opts.claimSeq)
    ? await logProgress(ctx, id, stored, opts)
    : await SQL.setProgress(db, { id, workerId: opts.workerId ?? null, claimSeq: opts.claimSeq ?? null, progress: stored });
  if (!row && ctx.log !== null && opts.claimSeq === undefined) {
    // Named by its id alone: a running log job, under the claim that holds it (its worker's, if given).
    const [c] = await LogSQL.claimOf(db, { id });
    if (c && (opts.workerId === undefined || opts.workerId === c.worker)) [row] = await logProgress(ctx, id, stored, { ...opts, claimSeq: c.claim_seq, workerId: c.worker });
  }
  if (!row) return false;
  if (ctx.publisher.active && committed(opts.db)) {
    const job = { id, queue: row.queue, kind: row.kind, group: row.group_key, attempts: row.attempts };
    ctx.publisher.publish(jobEvent('progress', job, 'running', at, progress));
  }
  return true;
}

/** A log job's progress (only under its claim): the row `setProgress` would give, or none. */
async function logProgress(ctx: QueueContext, id: string, stored: string, opts: ProgressOptions): Promise<{ queue: string; kind: string; group_key: null; attempts: number }[]> {
  if (opts.workerId === undefined) return [];
  const row = await Log.setProgress(ctx, ctx.log!, { id, claimSeq: opts.claimSeq! }, opts.workerId, stored, opts.db ?? ctx.pool);
  return row ? [{ queue: row.queue, kind: row.kind, group_key: null, attempts: row.attempt }] : [];
}

function invalid(path: string, message: string): JobqError {
  return new JobqError('validation_failed', message, [{ path, message }]);
}
