/**
 * A worker's leases: renewing and giving back its claims, and its registration (one live worker per
 * id, migrations/0009). The worker's lease keeper (src/worker/lease-keeper.ts) runs two of these
 * statements from a thread of its own, with one dedicated connection, so that the worker stays
 * registered and its leases are renewed while its main thread is blocked: LEASE_KEEPER_STATEMENTS.
 */
import { emitCancelled, type QueueContext } from './context.ts';
import { publishOutcomes } from './events/publish.ts';
import * as Log from './log/store.ts';
import { toJob } from './rows.ts';
import { statementFor } from './schema.ts';
import * as SQL from './statements/leases.ts';
import type { WorkerInfoParams } from './statements/leases.ts';
import type { StatementText } from './statements/statement.ts';
import type { Job, WriteOptions } from './types.ts';
import { isUuid } from './validate.ts';

/** A job as one claim of it: the claim_seq says which attempt (unique across every claim ever made). */
export interface ClaimRef {
  id: string;
  claimSeq: number;
}

export interface ClaimsHeartbeat {
  /** Claims still held whose job has a cancel request. */
  cancelRequested: number[];
  /** Claims this worker no longer holds (recovered, finished, claimed again): stop working on them. */
  lost: number[];
}

/** A claim set (statements/guards.ts CLAIMED): a JSON object whose keys are the claim numbers. */
export function claimSet(claims: Iterable<ClaimRef>): string {
  let out = '{';
  for (const c of claims) out += `${out.length > 1 ? ',' : ''}"${c.claimSeq}":0`;
  return `${out}}`;
}

/** See Queue.renew. */
export async function renew(ctx: QueueContext, workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<ClaimsHeartbeat> {
  if (ctx.log !== null && claims.some((c) => Log.isLogClaim(c.claimSeq))) {
    const logged = claims.filter((c) => Log.isLogClaim(c.claimSeq));
    const rest = claims.filter((c) => !Log.isLogClaim(c.claimSeq));
    const [a, b] = await Promise.all([Log.renew(ctx, logged, workerId, ctx.log, opts.db ?? ctx.pool), renew(ctx, workerId, rest, opts)]);
    return { cancelRequested: [...a.cancelRequested, ...b.cancelRequested], lost: [...a.lost, ...b.lost] };
  }
  if (claims.length === 0) return { cancelRequested: [], lost: [] };
  const ids = [...new Set(claims.map((c) => c.id).filter(isUuid))];
  const rows = await SQL.renewClaims(opts.db ?? ctx.pool, { workerId, ids, claims: claimSet(claims), now: ctx.now() });
  const held = new Set(rows.map((r) => r.claim_seq));
  return {
    cancelRequested: rows.filter((r) => r.cancel_requested).map((r) => r.claim_seq),
    lost: claims.filter((c) => !held.has(c.claimSeq)).map((c) => c.claimSeq),
  };
}

/** See Queue.release. */
export async function release(ctx: QueueContext, workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<Job[]> {
  if (ctx.log !== null && claims.some((c) => Log.isLogClaim(c.claimSeq))) {
    const jobs = await Log.release(ctx, ctx.log, workerId, claims.filter((c) => Log.isLogClaim(c.claimSeq)), opts.db);
    emitCancelled(ctx, jobs);
    publishOutcomes(ctx.publisher, ctx.now(), jobs, opts.db);
    return [...jobs, ...(await release(ctx, workerId, claims.filter((c) => !Log.isLogClaim(c.claimSeq)), opts))];
  }
  if (claims.length === 0) return [];
  const ids = [...new Set(claims.map((c) => c.id).filter(isUuid))];
  const jobs = (await SQL.release(opts.db ?? ctx.pool, { workerId, ids, claims: claimSet(claims), now: ctx.now() })).map(toJob);
  emitCancelled(ctx, jobs);
  publishOutcomes(ctx.publisher, ctx.now(), jobs, opts.db); // cancelled ones (a job given back to queued has no event)
  return jobs;
}

/** See Queue.registerWorker. */
export async function registerWorker(
  ctx: QueueContext, workerId: string, instance: string, aliveMs: number, info: Partial<WorkerInfoParams> = {},
): Promise<{ heldForMs: number } | null> {
  const taken = await SQL.registerWorker(ctx.pool, { workerId, instance, aliveMs, now: ctx.now(), concurrency: info.concurrency ?? null, queues: info.queues ?? null });
  if (taken.length > 0) return null;
  const [holder] = await SQL.workerHolder(ctx.pool, { workerId, now: ctx.now() });
  return { heldForMs: Math.max(0, Math.round(holder?.remaining_ms ?? 0)) };
}

/** See Queue.renewWorker. */
export async function renewWorker(ctx: QueueContext, workerId: string, instance: string, aliveMs: number): Promise<boolean> {
  return (await SQL.renewWorker(ctx.pool, { workerId, instance, aliveMs, now: ctx.now() })) > 0;
}

/** See Queue.unregisterWorker. */
export async function unregisterWorker(ctx: QueueContext, workerId: string, instance: string): Promise<void> {
  await SQL.unregisterWorker(ctx.pool, { workerId, instance, now: ctx.now() });
}

/** A statement as data, for a thread: functions do not cross to a worker thread (structured clone). */
const asData = ({ name, text, params }: StatementText): StatementText => ({ name, text, params: [...params] });

/**
 * The statements the lease keeper's thread runs (src/worker/lease-thread.js), handed to it as data so
 * that their text stays here. The thread builds each one's values from `params` by name:
 * `renewWorker` ({ workerId, instance, aliveMs, now }) affects a row while that instance holds the id;
 * `renewAllOfWorker` ({ workerId, now }) renews every job running under the id (its fallback while
 * the worker's own thread is blocked).
 */
export const LEASE_KEEPER_STATEMENTS = { renewWorker: asData(SQL.renewWorker), renewAllOfWorker: asData(SQL.renewAllOfWorker) };

/** LEASE_KEEPER_STATEMENTS for schema `schema` (schema.ts): the thread sends them as they are. */
export function leaseKeeperStatements(schema: string): typeof LEASE_KEEPER_STATEMENTS {
  const f = (s: StatementText): StatementText => ({ ...statementFor(schema, s), params: [...s.params] });
  return { renewWorker: f(LEASE_KEEPER_STATEMENTS.renewWorker), renewAllOfWorker: f(LEASE_KEEPER_STATEMENTS.renewAllOfWorker) };
}
