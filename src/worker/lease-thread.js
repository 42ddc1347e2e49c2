// @ts-check
/**
 * The lease keeper's thread (see lease-keeper.ts): a watchdog. When the main thread's own renewal is
 * late (none has succeeded for a heartbeat and a half: its event loop is blocked, or its pool is
 * exhausted, or its queries wait behind a backlog), it renews, on a connection of its own, the worker's
 * registration (migrations/0009) and the lease of every job running under the worker id, so that
 * nothing the worker holds expires while the worker is alive. While the main thread renews in time,
 * the thread does nothing.
 *
 * Plain JavaScript that loads `pg` only when first needed, so the thread starts in milliseconds
 * without a TypeScript loader (under tsx, loading one in the thread cost about 7% of a 20,000-job
 * bench run). Its SQL comes from the queue module as data (workerData.statements: src/queue/leases.ts).
 *
 * The main thread sends `tick` every half heartbeat with the bound: how long it may stay blocked (the
 * largest timeout of the jobs it holds plus the grace period, or `maxBlockedMs`), and `renewed` when a
 * renewal of its own succeeded. Past the bound without a tick, or without a renewal of its own, it
 * counts as stuck: renewals stop (the registration too), so that its jobs are recovered by another
 * worker, and the thread logs it itself (the main thread may not be able to).
 */
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/** @type {import('./lease-keeper.ts').KeeperInit} */
const init = workerData;
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const { renewWorker, renewAllOfWorker } = init.statements;
let lastTick = Date.now();
/** When the main thread's last successful renewal started (it registered just before making the thread). */
let mainRenewedAt = Date.now();
/** When this thread's last renewal started. */
let ownRenewedAt = 0;
/** Renewals made since the main thread's last one (0: the main thread renews in time). */
let streak = 0;
/** Whether the last attempt failed (a failure is reported once, not every heartbeat of an outage). */
let failing = false;
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
  } else if (m.type === 'renewed') {
    mainRenewedAt = Math.max(mainRenewedAt, m.startedAt);
    if (streak > 0) log(30, `the worker renews its leases itself again (this thread renewed them ${streak} times meanwhile)`);
    streak = 0;
  } else if (m.type === 'stop') void stop();
});

/** Checked every half heartbeat (no query unless the main thread is late). */
const timer = setInterval(() => void renew(), Math.max(50, Math.floor(init.heartbeatMs / 2)));

async function renew() {
  if (busy) return;
  const now = Date.now();
  const blockedMs = now - lastTick;
  const lateMs = now - mainRenewedAt;
  // Past the bound (blocked, or late, for longer than any job it holds may run; its renewals are a
  // heartbeat apart when on time) the worker counts as stuck: the thread stops renewing, so that its
  // jobs are recovered by another worker.
  if (blockedMs > boundMs || lateMs > boundMs + init.heartbeatMs) {
    if (!stuck) {
      stuck = true;
      log(50, `the worker has not renewed its leases itself for ${lateMs} ms (its event loop last answered ${blockedMs} ms ago), past ${boundMs} ms: no more lease renewals, its jobs will be recovered by another worker`);
      port.postMessage({ type: 'stuck', blockedMs, lateMs, boundMs });
    }
    return;
  }
  if (stuck) {
    stuck = false;
    log(30, 'the worker runs again; lease renewal resumes');
  }
  // The main thread renews what it holds itself, every heartbeat; the thread steps in when that is late,
  // and then renews once a heartbeat.
  if (lateMs <= 1.5 * init.heartbeatMs || now - ownRenewedAt < init.heartbeatMs) return;
  busy = true;
  ownRenewedAt = now;
  try {
    const db = await connect();
    const registered = await db.query(named(renewWorker, { workerId: init.workerId, instance: init.instance, aliveMs: init.leaseMs }));
    if (registered.rowCount === 0) port.postMessage({ type: 'identity-lost' });
    else {
      const renewed = await db.query(named(renewAllOfWorker, { workerId: init.workerId }));
      // The first of a streak says why; the rest (every heartbeat of a long block) only at debug.
      log(streak === 0 ? 40 : 20, `the worker's own last lease renewal started ${lateMs} ms ago (its event loop last answered ${blockedMs} ms ago): renewed the leases of its ${renewed.rowCount} running jobs`);
      streak++;
    }
    failing = false;
  } catch (err) {
    if (!failing) port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    failing = true;
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
  const c = new pg.Client({ connectionString: init.databaseUrl, keepAlive: true, application_name: 'jobq-lease-keeper', query_timeout: init.leaseMs, connectionTimeoutMillis: init.leaseMs });
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
