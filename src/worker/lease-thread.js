// @ts-check
/**
 * The lease keeper's thread (see lease-keeper.ts): a watchdog. When the main thread has missed its own
 * heartbeat (no tick for longer than a heartbeat period), it renews, on a connection of its own, the
 * worker's registration (migrations/0009) and the lease of every job running under the worker id, so
 * that a handler blocking the main thread's event loop does not let the leases of everything else the
 * worker holds expire. While the main thread runs, the thread does nothing.
 *
 * Plain JavaScript that loads `pg` only when first needed, so the thread starts in milliseconds
 * without a TypeScript loader (under tsx, loading one in the thread cost about 7% of a 20,000-job
 * bench run). Its SQL comes from the queue module as data (workerData.statements: src/queue/leases.ts).
 *
 * The main thread sends `tick` every half heartbeat with the bound: how long it may stay blocked (the
 * largest timeout of the jobs it holds plus the grace period, or `maxBlockedMs`). Past the bound it
 * counts as stuck: renewals stop (the registration too), so that its jobs are recovered by another
 * worker, and the thread logs it itself (the main thread cannot).
 */
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/** @type {import('./lease-keeper.ts').KeeperInit} */
const init = workerData;
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const { renewWorker, renewAllOfWorker } = init.statements;
let lastTick = Date.now();
/** Until the first tick (sent right after the thread is made): no bound yet. */
let boundMs = Number.POSITIVE_INFINITY;
let stuck = false;
let busy = false;
/** @type {import('pg').Client | undefined} */
let client;
/** Whether `client` goes through a pooler (statements unnamed). */
let pooled = false;

port.on('message', (/** @type {import('./lease-keeper.ts').ToKeeper} */ m) => {
  if (m.type === 'tick') {
    lastTick = Date.now();
    boundMs = m.boundMs;
    if (stuck) {
      stuck = false;
      log(30, 'the main thread runs again; lease renewal resumes');
    }
  } else if (m.type === 'stop') void stop();
});

const timer = setInterval(() => void renew(), init.heartbeatMs);

async function renew() {
  if (busy) return;
  const blockedMs = Date.now() - lastTick;
  if (blockedMs > boundMs) {
    if (!stuck) {
      stuck = true;
      log(50, `the main thread has been blocked for ${blockedMs} ms, past ${boundMs} ms: no more lease renewals, its jobs will be recovered by another worker`);
      port.postMessage({ type: 'stuck', blockedMs, boundMs });
    }
    return;
  }
  // The main thread renews what it holds itself while it runs.
  if (blockedMs <= init.heartbeatMs) return;
  busy = true;
  try {
    const db = await connect();
    const registered = await db.query(named(renewWorker, { workerId: init.workerId, instance: init.instance, aliveMs: init.leaseMs }));
    if (registered.rowCount === 0) port.postMessage({ type: 'identity-lost' });
    else {
      const renewed = await db.query(named(renewAllOfWorker, { workerId: init.workerId }));
      log(40, `the main thread has been blocked for ${blockedMs} ms: renewed the leases of its ${renewed.rowCount} running jobs`);
    }
  } catch (err) {
    port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  } finally {
    busy = false;
  }
}

/**
 * The query for a statement given as data ({ name, text, params }: src/queue/leases.ts), its values
 * taken from `values` by parameter name; a parameter not given (`now`) is NULL.
 */
function named(/** @type {{ name: string, text: string, params: readonly string[] }} */ stmt, /** @type {Record<string, unknown>} */ values) {
  const v = stmt.params.map((p) => values[p] ?? null);
  return pooled ? { text: stmt.text, values: v } : { name: stmt.name, text: stmt.text, values: v };
}

async function connect() {
  if (client) return client;
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: init.databaseUrl, keepAlive: true, application_name: 'jobq-lease-keeper', query_timeout: init.leaseMs });
  c.on('error', () => {
    if (client === c) client = undefined;
    c.end().catch(() => {});
  });
  await c.connect().catch((err) => {
    c.end().catch(() => {});
    throw err;
  });
  // Behind a pooler in transaction mode (its made-up process id differs from the server's), statements
  // go unnamed: one prepared on a server session may be executed on another (src/queue/pooling.ts).
  const { rows } = await c.query('SELECT pg_backend_pid() AS pid').catch((err) => {
    c.end().catch(() => {});
    throw err;
  });
  pooled = rows[0].pid !== c.processID;
  client = c;
  return c;
}

async function stop() {
  clearInterval(timer);
  await client?.end().catch(() => {});
  port.close();
}

/** A pino-shaped line written straight to stdout: the main thread's logger may be the one blocked. */
function log(/** @type {number} */ level, /** @type {string} */ msg) {
  if (level < init.logLevel) return;
  writeSync(1, `${JSON.stringify({ level, time: Date.now(), pid: process.pid, worker_id: init.workerId, msg })}\n`);
}
