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
  const [row] = await SQL.setProgress(opts.db ?? ctx.pool, {
    id,
    workerId: opts.workerId ?? null,
    claimSeq: opts.claimSeq ?? null,
    progress: JSON.stringify({ ...progress, at }),
  });
  if (!row) return false;
  if (ctx.publisher.active && committed(opts.db)) {
    const job = { id, queue: row.queue, kind: row.kind, group: row.group_key, attempts: row.attempts };
    ctx.publisher.publish(jobEvent('progress', job, 'running', at, progress));
  }
  return true;
}

function invalid(path: string, message: string): JobqError {
  return new JobqError('validation_failed', message, [{ path, message }]);
}
