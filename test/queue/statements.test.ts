/**
 * Every statement of src/queue/statements/ against the migrated schema: it PREPAREs (a typo, an
 * unknown column or a wrong cast fails here, not in production), PostgreSQL sees as many parameters
 * as the statement sends values, and its compiled parameters are exactly the names its type declares.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as claim from '../../src/queue/statements/claim.ts';
import * as enqueue from '../../src/queue/statements/enqueue.ts';
import * as events from '../../src/queue/statements/events.ts';
import * as fleet from '../../src/queue/statements/fleet.ts';
import * as flows from '../../src/queue/statements/flows.ts';
import * as housekeeping from '../../src/queue/statements/housekeeping.ts';
import * as keyed from '../../src/queue/statements/keyed.ts';
import * as leases from '../../src/queue/statements/leases.ts';
import * as policies from '../../src/queue/statements/policies.ts';
import * as progress from '../../src/queue/statements/progress.ts';
import * as reads from '../../src/queue/statements/reads.ts';
import * as schedules from '../../src/queue/statements/schedules.ts';
import { statement, type StatementText } from '../../src/queue/statements/statement.ts';
import * as transitions from '../../src/queue/statements/transitions.ts';
import { freshDatabase } from '../helpers/db.ts';

const modules = { claim, enqueue, events, fleet, flows, housekeeping, keyed, leases, policies, progress, reads, schedules, transitions };
type Modules = typeof modules;

type ParamsOf<S> = S extends (db: never, params: infer P) => unknown ? P : never;
/** `L` when it names every key of `P` (tsc already refuses a name that is not one); else a type saying which are missing. */
type Exhaustive<P, L> = L extends readonly (infer N)[]
  ? string extends keyof P ? L : [Exclude<keyof P, N>] extends [never] ? L : { missing: Exclude<keyof P, N> }
  : never;
type Declared = { [M in keyof Modules]: { [S in keyof Modules[M]]: readonly (keyof ParamsOf<Modules[M][S]>)[] } };

/** The parameters each statement's type declares (its `P`), written out: tsc checks each list against `P`. */
const declared = {
  claim: {
    claim: ['workerId', 'limit', 'queues', 'kinds', 'afterPriority', 'afterRunAt', 'afterId', 'started', 'async', 'now', 'exclude'],
    claimLimited: ['workerId', 'queues', 'limit', 'kinds', 'async', 'now'],
    markStartedThrough: ['workerId', 'claimSeq', 'now'],
  },
  enqueue: {
    insert: ['input', 'notify', 'now'],
    notifyQueues: ['queues'],
    findByKeys: ['keys', 'asked'],
  },
  events: {
    publishEvents: ['chunks'],
    registerListener: ['id', 'ttlMs'],
    unregisterListener: ['id'],
    listenersLive: [],
    watchedStates: ['ids'],
  },
  flows: {
    lockParents: ['ids'],
    adoptLogParents: ['ids', 'now'],
    insertWithParents: ['input', 'logged', 'notify', 'now'],
    parentsOf: ['id'],
  },
  fleet: {
    workers: ['recentMs', 'now'],
  },
  housekeeping: {
    recover: ['staleAfterMs', 'batch', 'now'],
    prune: ['status', 'keepMs', 'batch', 'now'],
    pruneWorkers: ['idleMs', 'now'],
    sweepTake: ['holder', 'leaseMs'],
    sweepGive: ['holder'],
  },
  keyed: {
    enqueueSingleton: ['row', 'singletonKey', 'notify', 'now'],
    enqueueDebounced: ['row', 'debounceKey', 'debounceMs', 'notify', 'now'],
    keyHolder: ['id'],
  },
  leases: {
    renewClaims: ['workerId', 'ids', 'claims', 'now'],
    release: ['workerId', 'ids', 'claims', 'now'],
    registerWorker: ['workerId', 'instance', 'aliveMs', 'now', 'concurrency', 'queues'],
    workerHolder: ['workerId', 'now'],
    renewWorker: ['workerId', 'instance', 'aliveMs', 'now'],
    unregisterWorker: ['workerId', 'instance', 'now'],
    renewAllOfWorker: ['workerId', 'now'],
  },
  policies: {
    setPolicy: ['name', 'paused', 'setConcurrency', 'concurrency', 'setRate', 'rateLimit', 'ratePeriodMs', 'setGroupConcurrency', 'groupConcurrency', 'now'],
    queueInfos: ['name', 'after', 'limit', 'now'],
    flowQueues: [],
    pruneQueues: [],
  },
  progress: {
    setProgress: ['id', 'workerId', 'claimSeq', 'progress'],
  },
  reads: {
    get: ['id'],
    statusOf: ['id'],
    list: ['status', 'kind', 'queue', 'group', 'after', 'limit', 'scanRows', 'pageBytes'],
    counts: [],
    oldestRunnable: ['now'],
    byIdempotencyKey: ['key'],
    children: ['parent', 'after', 'limit'],
    finishedPerMinute: ['since'],
  },
  schedules: {
    saveSchedule: ['name', 'cron', 'every', 'everyMs', 'timezone', 'kind', 'payload', 'queue', 'priority', 'maxAttempts', 'timeoutMs', 'enabled', 'catchUp', 'catchUpLimit', 'source', 'nextFireAt', 'now'],
    getSchedule: ['name'],
    listSchedules: ['after', 'limit'],
    countSchedules: [],
    deleteSchedule: ['name'],
    deleteFileSchedules: ['keep'],
    setLastJob: ['name', 'jobId'],
    upcomingSchedules: ['limit', 'now'],
    fireTicks: ['name', 'expected', 'input', 'next', 'lastTick', 'lastJobId', 'count', 'now'],
  },
  transitions: {
    complete: ['workerId', 'ids', 'claims', 'started', 'now'],
    fail: ['id', 'workerId', 'claimSeq', 'now', 'error', 'permanent', 'delayMs', 'launchedAtMs'],
    backoffOf: ['id'],
    finalizeCancelled: ['id', 'workerId', 'claimSeq', 'now'],
    cancel: ['id', 'now'],
    notifyCancel: ['id'],
    retry: ['id', 'now'],
  },
} as const satisfies Declared;
// Compile-time: every list names all of its statement's parameters.
type D = typeof declared;
const exhaustive: { [M in keyof D]: { [S in keyof D[M]]: Exhaustive<ParamsOf<S extends keyof Modules[M] ? Modules[M][S] : never>, D[M][S]> } } = declared;
void exhaustive;

/** Every statement the modules export, by `module.export`. */
const statements = Object.entries(modules).flatMap(([m, mod]) =>
  Object.entries(mod)
    .filter(([, v]) => typeof v === 'function' && 'text' in v)
    .map(([s, v]) => ({ key: `${m}.${s}`, stmt: v as StatementText & { values(p: unknown): unknown[] } })),
);

test('every statement has its parameters declared, and compiles to exactly those names', () => {
  const declaredKeys = Object.entries(declared).flatMap(([m, mod]) => Object.keys(mod).map((s) => `${m}.${s}`));
  assert.deepEqual(statements.map((s) => s.key).sort(), declaredKeys.sort(), 'a statement without a declaration, or a declaration without a statement');
  for (const { key, stmt } of statements) {
    const [m, s] = key.split('.') as [keyof Modules, string];
    const names = (declared[m] as Record<string, readonly string[]>)[s]!;
    assert.deepEqual([...stmt.params].sort(), [...names].sort(), `${key}: the names its text uses are the names its type declares`);
    assert.ok(stmt.name.startsWith('jobq_'), key);
    // The values go by name to their $n: each name's value lands where its number says.
    const values = stmt.values(Object.fromEntries(stmt.params.map((p, i) => [p, `v${i + 1}`])));
    assert.deepEqual(values, stmt.params.map((_p, i) => `v${i + 1}`), key);
    const highest = Math.max(0, ...[...stmt.text.matchAll(/\$(\d+)/g)].map((x) => Number(x[1])));
    assert.equal(highest, stmt.params.length, `${key}: $1..$${stmt.params.length}`);
  }
  assert.equal(new Set(statements.map((s) => s.stmt.name)).size, statements.length, 'every prepared statement has a name of its own');
});

test('every statement PREPAREs against the migrated schema, with as many parameters as it sends', async () => {
  const db = await freshDatabase();
  const client = await db.pool.connect();
  try {
    for (const { key, stmt } of statements) {
      await client.query(`PREPARE ${stmt.name} AS ${stmt.text}`).catch((err: Error) => assert.fail(`${key}: ${err.message}`));
      const { rows: [prepared] } = await client.query<{ n: number }>(
        'SELECT cardinality(parameter_types) AS n FROM pg_prepared_statements WHERE name = $1', [stmt.name]);
      assert.equal(prepared?.n, stmt.params.length, key);
      await client.query(`DEALLOCATE ${stmt.name}`);
    }
  } finally {
    client.release();
  }
});

test('named parameters: first appearance numbers them, casts stay casts, undefined is NULL', () => {
  const s = statement<{ a: number; bB: string | undefined; c2: Date | null }, never>(
    'test_only',
    `SELECT :bB::text, :a, '00:00'::time, :bB || 'x', :c2::timestamptz, x::jsonb ->> 'k'`,
  );
  assert.equal(s.text, `SELECT $1::text, $2, '00:00'::time, $1 || 'x', $3::timestamptz, x::jsonb ->> 'k'`);
  assert.deepEqual(s.params, ['bB', 'a', 'c2']);
  assert.equal(s.name, 'jobq_test_only');
  assert.deepEqual(s.values({ a: 0, bB: undefined, c2: null }), [null, 0, null]);
});
