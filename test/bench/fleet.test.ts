/**
 * The fleet bench (bench/fleet/) in its smallest form: 2 workers and 1 API, each in a network namespace
 * of its own, through a real PgBouncer in transaction mode (LISTEN on the direct URL), a few hundred
 * jobs. Every job the API answered ran exactly once, and the processes really were separate hosts:
 * PgBouncer's clients came from the API's and the workers' addresses, PostgreSQL's direct LISTEN
 * connections from the workers' own. Nothing of the fleet is left behind.
 *
 * It needs root, iproute2 and PgBouncer; without them it is skipped with a message saying which,
 * except with CI set, where it fails (as the dashboard's browser tests do).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fleetUnavailable, runFleet } from '../../bench/fleet/fleet.ts';
import { leftovers } from '../../bench/fleet/network.ts';

function skipWhenUnavailable(): string | false {
  const why = fleetUnavailable(true);
  if (!why) return false;
  if (process.env.CI) throw new Error(`the fleet bench's test must run in CI: ${why}`);
  console.log(`# skipping the fleet bench's test: ${why}`);
  return `skipped: ${why}`;
}

test('2 workers and 1 API on hosts of their own run every job once through PgBouncer', { skip: skipWhenUnavailable(), timeout: 180_000 }, async () => {
  const run = await runFleet({
    cells: [{ workers: 2, apis: 1, pgbouncer: true }],
    rate: 100,
    rateSeconds: 3,
    maxSeconds: 1,
    batch: 10,
    concurrency: 1,
    poolSize: 5,
    verify: true,
  });
  assert.deepEqual(leftovers(run.meta.prefix), [], 'namespaces and links of the fleet are removed');
  const [cell] = run.cells;
  assert.ok(cell);
  const v = cell.verified!;

  // Exactly once: each id answered is one row (no other rows), succeeded at its first attempt.
  assert.ok(v.ids >= 200, `a few hundred jobs (${v.ids})`);
  assert.equal(v.distinct, v.ids, 'no id answered twice');
  assert.equal(v.rows, v.ids, 'no job that the API did not answer for');
  assert.equal(v.succeededOnce, v.ids, 'every job succeeded at its first attempt');
  assert.deepEqual(cell.errors, { http: 0, httpKinds: {}, processErrors: 0, processWarnings: 0, exited: 0, notSucceeded: 0, samples: [] }, `errors: ${JSON.stringify(cell.errors)}`);

  // Separate hosts: the addresses the fleet gave the API and the two workers are the ones seen.
  const role = (r: string) => run.meta.hosts.find((h) => h.role === r)!.address;
  const api = role('api 1');
  const workers = [role('worker 1'), role('worker 2')];
  assert.equal(new Set([api, ...workers, run.meta.gateway]).size, 4, 'four distinct addresses');
  assert.deepEqual(v.hostAddrs, [api, ...workers].sort(), "PgBouncer's clients came from the API's and the workers' namespaces");
  // PostgreSQL saw PgBouncer (the bridge's address) and each worker's direct LISTEN connection, from its own address.
  assert.deepEqual(v.listenerAddrs, [run.meta.gateway, ...workers].sort());
  assert.equal(cell.connections.byApp['jobq-listener'], 2, 'one LISTEN connection per worker');
  assert.ok(cell.connections.pgbServers! <= 5, `PgBouncer kept to its pool of 5 server connections (${cell.connections.pgbServers})`);

  // Both phases measured something.
  assert.ok(cell.latency.jobs > 0 && Number.isFinite(cell.latency.p50Ms) && cell.latency.p99Ms >= cell.latency.p50Ms);
  assert.ok(cell.throughput.processedPerSec > 0 && cell.latency.cpuUsPerJob > 0);
});
