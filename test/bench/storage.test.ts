/**
 * The storage study's runner (bench/storage/, `npm run bench:storage`) on every candidate, at sizes
 * that only prove the scenarios measure what they say: a drain finishes every job it was given, the
 * retention removes exactly the history older than a day, the API's scripts run, the held-xmin
 * scenario samples the hot tables and drains what it enqueued, and the real Worker runs the
 * candidate's jobs through its Queue.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CANDIDATES } from '../../bench/storage/candidates.ts';
import { prepareCandidateDb } from '../../bench/storage/measure.ts';
import { heldXmin, history, reads, throughput } from '../../bench/storage/scenarios.ts';
import { workerThroughput } from '../../bench/storage/worker-path.ts';
import { directDatabase } from '../helpers/db.ts';
import { withoutPgbench } from '../helpers/pgbench.ts';

for (const cand of Object.values(CANDIDATES)) {
  test(`storage study, ${cand.name}: drains finish every job, retention drops only the old history, the API's scripts run, the real Worker runs through its Queue`, { skip: withoutPgbench(), timeout: 240_000 }, async () => {
    // Straight to the server, never through a pooler: pgbench and the prototypes prepare their statements.
    const fresh = await directDatabase();
    const db = await prepareCandidateDb(fresh.url, cand);
    try {
      for (const [clients, analyzed] of [[10, true], [3, false]] as const) {
        const t = await throughput(db, cand, 1_000, clients, analyzed);
        assert.equal(t.finished, 1_000, `${clients} clients, analyzed ${analyzed}: every job finished once`);
        assert.equal(await cand.remaining(db.c), 0);
        assert.ok(t.jobsPerS > 0 && t.walBytesPerJob > 0);
      }

      const h = await history(db, cand, 500, 2_000);
      assert.equal(h.withHistory.finished, 500);
      if (!cand.peer) {
        assert.equal(h.retentionRemoved, 1_800, 'the nine tenths finished 48 hours ago');
        assert.equal(await cand.succeeded(db.c), 200 + 500, 'what finished within the day is kept');
      }

      const r = await reads(db, cand, 2_000, 1);
      for (const [what, ms] of Object.entries(r)) assert.ok(ms > 0, `${what} measured`);

      const x = await heldXmin(db, cand, 0.05, 500, 500, 1_000);
      assert.equal(x.drainHeld.finished, 500);
      assert.ok(x.samples.length >= 1 && x.samples.every((s) => s.bytes > 0), `the hot tables sampled during the hold: ${JSON.stringify(x.samples)}`);

      if (!cand.peer) {
        const w = await workerThroughput(db, cand, 300, 10);
        assert.equal(w.finished, 300, 'the real Worker ran every job through the candidate once');
      }
    } finally {
      await db.close();
    }
  });
}
