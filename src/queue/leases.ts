/**
 * A worker's leases, as plain functions over any connection: the Queue calls them with its pool, and
 * the worker's lease keeper (src/worker/lease-keeper.ts) from a thread of its own with one dedicated
 * connection, so that the worker stays registered and its leases are renewed while its main thread is
 * blocked.
 */
import { run } from './db.ts';
import * as SQL from './sql.ts';
import type { Queryable } from './types.ts';

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

/** A claim set (sql.ts CLAIMS): a JSON object whose keys are the claim numbers. */
export function claimSet(claims: Iterable<ClaimRef>): string {
  let out = '{';
  for (const c of claims) out += `${out.length > 1 ? ',' : ''}"${c.claimSeq}":0`;
  return `${out}}`;
}

/** Renews the lease of exactly these claims of `workerId`. */
export async function renewClaims(db: Queryable, workerId: string, claims: ClaimRef[], now: Date | null = null): Promise<ClaimsHeartbeat> {
  if (claims.length === 0) return { cancelRequested: [], lost: [] };
  const ids = [...new Set(claims.map((c) => c.id))];
  const { rows } = await run<{ claim_seq: number; cancel_requested: boolean }>(db, SQL.HEARTBEAT, [workerId, ids, now, claimSet(claims)]);
  const held = new Set(rows.map((r) => r.claim_seq));
  return {
    cancelRequested: rows.filter((r) => r.cancel_requested).map((r) => r.claim_seq),
    lost: claims.filter((c) => !held.has(c.claimSeq)).map((c) => c.claimSeq),
  };
}

/** Keeps `workerId` registered to `instance` for another `leaseMs`; false if another instance took the id. */
export async function renewWorker(db: Queryable, workerId: string, instance: string, leaseMs: number, now: Date | null = null): Promise<boolean> {
  return ((await run(db, SQL.RENEW_WORKER, [workerId, instance, leaseMs, now])).rowCount ?? 0) > 0;
}

/**
 * The statements the lease keeper's thread runs (src/worker/lease-thread.js), handed to it as data so
 * that their text stays here: `renewWorker` takes [workerId, instance, leaseMs, null] and returns a
 * row while that instance holds the id; `renewAllOfWorker` takes [workerId, null] and renews every job
 * running under the id (its fallback while the worker's own thread is blocked).
 */
export const LEASE_KEEPER_STATEMENTS = { renewWorker: SQL.RENEW_WORKER, renewAllOfWorker: SQL.RENEW_ALL_OF_WORKER };
