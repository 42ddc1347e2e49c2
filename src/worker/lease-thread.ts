/**
 * The lease keeper's thread (see lease-keeper.ts): renews the worker's claims and its registration
 * every heartbeat on a connection of its own, so that a handler blocking the main thread's event loop
 * does not let the leases of everything else the worker holds expire. Only pg and the queue's lease
 * functions are loaded here.
 *
 * The main thread sends `hold` (a claim batch), `drop` (finished claims, batched) and `tick` (it is
 * alive; every heartbeat). When no tick came for longer than the bound (the largest timeout of a held
 * job plus the grace period, or `maxBlockedMs`), the main thread counts as stuck: renewals stop, so
 * that its jobs are recovered by another worker, and the thread logs it itself (the main thread
 * cannot).
 */
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { renewClaims, renewWorker } from '../queue/leases.ts';
import type { KeeperInit, ToKeeper } from './lease-keeper.ts';

const init = workerData as KeeperInit;
const port = parentPort!;
/** claim_seq -> the job id and its timeout. */
const held = new Map<number, { id: string; timeoutMs: number }>();
let lastTick = Date.now();
let stuck = false;
let busy = false;
let client: pg.Client | undefined;

port.on('message', (m: ToKeeper) => {
  if (m.type === 'hold') for (const c of m.claims) held.set(c.claimSeq, { id: c.id, timeoutMs: c.timeoutMs });
  else if (m.type === 'drop') for (const seq of m.seqs) held.delete(seq);
  else if (m.type === 'tick') {
    lastTick = Date.now();
    if (stuck) {
      stuck = false;
      log(30, 'the main thread runs again; lease renewal resumes');
    }
  } else if (m.type === 'stop') void stop();
});

const timer = setInterval(() => void renew(), init.heartbeatMs);
port.postMessage({ type: 'ready' });

async function renew(): Promise<void> {
  if (busy) return;
  const blockedMs = Date.now() - lastTick;
  const bound = init.maxBlockedMs ?? largestTimeout() + init.timeoutGraceMs;
  if (blockedMs > bound) {
    if (!stuck) {
      stuck = true;
      log(50, `the main thread has been blocked for ${blockedMs} ms, past ${bound} ms: no more lease renewals, its ${held.size} jobs will be recovered by another worker`);
      port.postMessage({ type: 'stuck', blockedMs, boundMs: bound });
    }
    return;
  }
  busy = true;
  try {
    const db = await connect();
    if (!(await renewWorker(db, init.workerId, init.instance, init.leaseMs))) port.postMessage({ type: 'identity-lost' });
    const claims = [...held].map(([claimSeq, c]) => ({ id: c.id, claimSeq }));
    const hb = await renewClaims(db, init.workerId, claims);
    for (const seq of hb.lost) held.delete(seq);
    if (hb.lost.length > 0 || hb.cancelRequested.length > 0) port.postMessage({ type: 'renewed', ...hb });
  } catch (err) {
    port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  } finally {
    busy = false;
  }
}

function largestTimeout(): number {
  let max = 0;
  for (const c of held.values()) if (c.timeoutMs > max) max = c.timeoutMs;
  return max;
}

async function connect(): Promise<pg.Client> {
  if (client) return client;
  const c = new pg.Client({ connectionString: init.databaseUrl, keepAlive: true, application_name: 'jobq-lease-keeper', query_timeout: init.leaseMs });
  c.on('error', () => {
    if (client === c) client = undefined;
    c.end().catch(() => {});
  });
  await c.connect().catch((err: unknown) => {
    c.end().catch(() => {});
    throw err;
  });
  client = c;
  return c;
}

async function stop(): Promise<void> {
  clearInterval(timer);
  await client?.end().catch(() => {});
  port.close();
}

/** A pino-shaped line written straight to stdout: the main thread's logger may be the one blocked. */
function log(level: number, msg: string): void {
  if (level < init.logLevel) return;
  writeSync(1, `${JSON.stringify({ level, time: Date.now(), pid: process.pid, worker_id: init.workerId, msg })}\n`);
}
