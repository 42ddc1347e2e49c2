/**
 * Queue policies (docs/flow-control.md has the design): setting them, reading a queue with its counts, and
 * the view of the fleet's flow control that workers refresh.
 */
import { type ErrorDetail, JobqError } from '../errors.ts';
import { QUEUE_LIMIT, QUEUE_NAME, QUEUE_PAGE_SIZE, RATE_PERIOD_MS } from '../limits.ts';
import type { QueueContext } from './context.ts';
import { inTransaction } from './db.ts';
import * as LogReads from './log/reads.ts';
import * as LogSweep from './log/sweep.ts';
import * as SQL from './statements/policies.ts';
import type { Queryable, QueueInfo, QueuePage, QueuePolicy, QueuePolicyPatch, WriteOptions } from './types.ts';

const QUEUE_NAME_RE = new RegExp(QUEUE_NAME.pattern);

/** A queue the worker claims through `claimLimited` (statements/policies.ts flowQueues). */
export interface FlowQueue {
  name: string;
  /** Its policy; null when it has none (it is listed for its groups). */
  policy: QueuePolicy | null;
  /** Waiting jobs of it carry a group. */
  grouped: boolean;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !QUEUE_NAME_RE.test(name)) {
    throw new JobqError('validation_failed', `a queue name is ${QUEUE_NAME.description}`, [{ path: '/name', message: `must be ${QUEUE_NAME.description}` }]);
  }
  return name;
}

const isLimit = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** The patch checked field by field; every problem is reported at once, each with its path. */
function checkPatch(patch: QueuePolicyPatch): QueuePolicyPatch {
  const problems: ErrorDetail[] = [];
  if (patch === null || typeof patch !== 'object') throw new JobqError('validation_failed', 'a policy change is an object', [{ path: '/', message: 'must be an object' }]);
  const limit = (path: string, v: unknown) => {
    if (v !== undefined && v !== null && !isLimit(v, QUEUE_LIMIT.min, QUEUE_LIMIT.max)) problems.push({ path, message: `must be null or an integer from ${QUEUE_LIMIT.min} to ${QUEUE_LIMIT.max}` });
  };
  if (patch.paused !== undefined && typeof patch.paused !== 'boolean') problems.push({ path: '/paused', message: 'must be true or false' });
  limit('/concurrency', patch.concurrency);
  limit('/group_concurrency', patch.groupConcurrency);
  const rate = patch.rate;
  if (rate !== undefined && rate !== null) {
    if (typeof rate !== 'object') problems.push({ path: '/rate', message: 'must be null or {limit, period}' });
    else {
      if (!isLimit(rate.limit, QUEUE_LIMIT.min, QUEUE_LIMIT.max)) problems.push({ path: '/rate/limit', message: `must be an integer from ${QUEUE_LIMIT.min} to ${QUEUE_LIMIT.max}` });
      if (!isLimit(rate.periodMs, RATE_PERIOD_MS.min, RATE_PERIOD_MS.max)) {
        problems.push({ path: '/rate/period', message: `must be a duration from ${RATE_PERIOD_MS.min} ms to ${RATE_PERIOD_MS.max} ms` });
      }
    }
  }
  if (problems.length > 0) throw new JobqError('validation_failed', `invalid queue policy: ${problems[0]!.path.slice(1)} ${problems[0]!.message}`, problems);
  return patch;
}

function policyOf(r: SQL.PolicyRow): QueuePolicy {
  return {
    paused: r.paused,
    concurrency: r.concurrency,
    rate: r.rate_limit === null || r.rate_period_ms === null ? null : { limit: r.rate_limit, periodMs: r.rate_period_ms },
    groupConcurrency: r.group_concurrency,
  };
}

function infoOf(r: SQL.QueueInfoRow): QueueInfo {
  return { name: r.name, ...policyOf(r), depth: r.depth, running: r.running, oldestWaitingAgeSeconds: r.oldest_age, updatedAt: r.updated_at };
}

/** See Queue.setQueue. */
export async function setQueue(ctx: QueueContext, name: string, patch: QueuePolicyPatch, opts: WriteOptions = {}): Promise<QueueInfo> {
  checkName(name);
  checkPatch(patch);
  const has = (k: keyof QueuePolicyPatch) => Object.prototype.hasOwnProperty.call(patch, k) && patch[k] !== undefined;
  const params = {
    name,
    paused: patch.paused ?? null,
    setConcurrency: has('concurrency'),
    concurrency: patch.concurrency ?? null,
    setRate: has('rate'),
    rateLimit: patch.rate?.limit ?? null,
    ratePeriodMs: patch.rate?.periodMs ?? null,
    setGroupConcurrency: has('groupConcurrency'),
    groupConcurrency: patch.groupConcurrency ?? null,
    now: ctx.now(),
  };
  if (!ctx.log) await SQL.setPolicy(opts.db ?? ctx.pool, params);
  else {
    // A queue with a row in jobq.queues is the row store's: its waiting log jobs become rows, with the policy.
    const both = async (db: Queryable) => {
      await SQL.setPolicy(db, params);
      await LogSweep.toRows(db, { name, now: ctx.now() });
    };
    await (opts.db ? both(opts.db) : inTransaction(ctx.pool, both));
  }
  return getQueue(ctx, name, opts);
}

/** See Queue.getQueue. */
export async function getQueue(ctx: QueueContext, name: string, opts: WriteOptions = {}): Promise<QueueInfo> {
  checkName(name);
  const db = opts.db ?? ctx.readPool;
  const [row] = await withLog(ctx, db, await SQL.queueInfos(db, { name, after: null, limit: 1, now: ctx.now() }), { name, after: null, limit: 1 });
  return row
    ? infoOf(row)
    : { name, paused: false, concurrency: null, rate: null, groupConcurrency: null, depth: 0, running: 0, oldestWaitingAgeSeconds: 0, updatedAt: null };
}

/** See Queue.listQueues. */
export async function listQueues(ctx: QueueContext, page: { after?: string; limit?: number } = {}, opts: WriteOptions = {}): Promise<QueuePage> {
  const limit = page.limit ?? QUEUE_PAGE_SIZE.default;
  if (!isLimit(limit, 1, QUEUE_PAGE_SIZE.max)) throw new JobqError('validation_failed', `limit must be an integer from 1 to ${QUEUE_PAGE_SIZE.max}`, [{ path: '/limit', message: `must be 1 to ${QUEUE_PAGE_SIZE.max}` }]);
  if (page.after !== undefined) checkName(page.after);
  const db = opts.db ?? ctx.readPool;
  const params = { name: null, after: page.after ?? null, limit: limit + 1 };
  const rows = await withLog(ctx, db, await SQL.queueInfos(db, { ...params, now: ctx.now() }), params);
  const queues = rows.slice(0, limit).map(infoOf);
  return { queues, nextAfter: rows.length > limit ? queues.at(-1)!.name : null };
}

/**
 * `rows` (queueInfos, the row store's) with the log's unfinished jobs added (log/reads.ts
 * queueCounts), and the queues only the log has jobs in; the first `limit` by name.
 */
async function withLog(ctx: QueueContext, db: Queryable, rows: SQL.QueueInfoRow[], p: { name: string | null; after: string | null; limit: number }): Promise<SQL.QueueInfoRow[]> {
  if (!ctx.log) return rows;
  const byName = new Map(rows.map((r) => [r.name, { ...r }]));
  for (const l of await LogReads.queueCounts(db, { name: p.name, after: p.after, now: ctx.now() })) {
    const age = Math.max(0, l.oldest_age ?? 0);
    const r = byName.get(l.name);
    if (r) {
      r.depth += l.depth;
      r.running += l.running;
      r.oldest_age = Math.max(r.oldest_age, age);
    } else if (l.depth + l.later + l.running > 0) {
      byName.set(l.name, { name: l.name, paused: false, concurrency: null, rate_limit: null, rate_period_ms: null, group_concurrency: null, depth: l.depth, running: l.running, oldest_age: age, updated_at: null });
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).slice(0, p.limit);
}

/** See Queue.flowQueues. */
export async function flowQueues(ctx: QueueContext, opts: WriteOptions = {}): Promise<FlowQueue[]> {
  const rows = await SQL.flowQueues(opts.db ?? ctx.pool, {});
  return rows.map((r) => ({ name: r.name, policy: r.has_policy ? policyOf(r) : null, grouped: r.grouped }));
}
