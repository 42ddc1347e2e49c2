/**
 * A log-store listing over many generations (jobq.log_list_ids, log/reads.ts `list`, log/store.ts
 * `mergeList`): it reads the generations newest first and stops once the page is known, so its pages
 * must be exactly those of a scan of them all, with ids as they really fall: jobs whose ids are older
 * than their generation (made before it, inserted after), ids up to an hour past the next one's
 * creation, a delayed job that joined the log generations after its id was made, retries, scheduled
 * entries, archived generations, and rows beside them.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import * as Reads from '../../src/queue/log/reads.ts';
import { Queue } from '../../src/queue/queue.ts';
import { freshQueue, noopJob as noop, testKinds, type TestDatabase } from '../helpers/fixtures.ts';

const HOUR = 3_600_000;
const MIN = 60_000;

/** A UUIDv7 made at `ms` (as src/queue/ids.ts lays them out), told apart by `n`. */
function v7At(ms: number, n: number): string {
  const t = ms.toString(16).padStart(12, '0');
  const r = n.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7000-8000-${r}`;
}

interface Made {
  id: string;
  queue: string;
  kind: string;
}

/**
 * Ten generations, made two hours apart from 20 hours ago (the tenth half an hour ago), the first six
 * archived; in each, first entries with ids from 40 minutes before it was made to 50 minutes after the
 * next one was; a retry of an older job; a delayed job made in generation 2 that joined the log in
 * generation 7; a scheduled entry not due yet; jobs enqueued now; and a row, all through `db` (whose
 * statistics are flushed at the end). Returns every job made, newest first.
 */
async function history(db: pg.ClientBase, queue: Queue): Promise<Made[]> {
  const now = Date.now();
  const made: Made[] = [];
  const madeAt = (g: number) => now - (22 - 2 * g) * HOUR + (g === 10 ? 1.5 * HOUR : 0);
  const log = async (id: string, q: string, kind: string, first = true) => {
    await db.query(
      `INSERT INTO jobq.log (id, first, queue, kind, payload, max_attempts, run_at, created_at) VALUES ($1, $2, $3, $4, '{}', 3, now(), now())`,
      [id, first, q, kind],
    );
    if (first) made.push({ id, queue: q, kind });
  };
  const schedule = async (id: string, q: string, kind: string, runAt: Date) => {
    await db.query(
      `INSERT INTO jobq.log_scheduled (id, first, queue, kind, payload, attempt, max_attempts, run_at, created_at) VALUES ($1, true, $2, $3, '{}', 1, 3, $4, now())`,
      [id, q, kind, runAt],
    );
    made.push({ id, queue: q, kind });
  };
  let n = 0;
  for (let g = 1; g <= 10; g++) {
    if (g > 1) await db.query('SELECT jobq.log_rotate()');
    await db.query('UPDATE jobq.log_gen SET created_at = $1 WHERE gen = $2', [new Date(madeAt(g)), g]);
    const at = madeAt(g);
    for (const [i, offset] of [-40 * MIN, MIN, 30 * MIN, 110 * MIN, 170 * MIN].entries()) {
      if (g === 10 && offset > 0) continue; // the current generation: nothing made in the future
      await log(v7At(at + offset, ++n), g % 4 === 2 && i === 2 ? 'r' : ['a', 'b'][(g + i) % 2]!, ['k1', 'k2', 'k1'][(g * 5 + i) % 3]!);
    }
    if (g === 2) await schedule(v7At(at + 10 * MIN, ++n), 'r', 'k2', new Date(now - HOUR)); // due, moved in generation 7
    if (g === 3) await schedule(v7At(at + 20 * MIN, ++n), 'a', 'k1', new Date(now + HOUR)); // still scheduled
    if (g === 7) await db.query('SELECT jobq.log_move_due($1, now())', ['r']);
    if (g === 8) await log(made[18]!.id, made[18]!.queue, made[18]!.kind, false); // a retry of a job of generation 4
  }
  for (let g = 1; g <= 6; g++) await db.query('SELECT jobq.log_archive($1, now())', [g]);
  for (const r of await queue.enqueueMany([noop(), noop({ queue: 'a' }), noop({ queue: 'r' }), noop({ priority: 1 })], { db })) {
    made.push({ id: r.job.id, queue: r.job.queue, kind: r.job.kind });
  }
  const layout = await db.query<{ log: number; scheduled: number; old: number; rows: number; moved: string }>(
    `SELECT (SELECT count(*)::int FROM jobq.log) AS log, (SELECT count(*)::int FROM jobq.log_old) AS old,
            (SELECT count(*)::int FROM jobq.log_scheduled) AS scheduled, (SELECT count(*)::int FROM jobq.jobs) AS rows,
            (SELECT gen || '' FROM jobq.log_all WHERE queue = 'r' AND kind = 'k2' AND gen = 7) AS moved`,
  );
  assert.deepEqual(layout.rows[0], { log: 21, old: 30, scheduled: 1, rows: 1, moved: '7' }, 'the history as meant');
  await db.query('SELECT pg_stat_force_next_flush()');
  return made.sort((a, b) => (a.id < b.id ? 1 : -1));
}

/** A connection of its own to the test's database (the server's, not a pooler's: one session throughout). */
async function session(db: TestDatabase): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.listenUrl ?? db.url });
  client.on('error', () => {}); // ended by the database's drop after the test
  await client.connect();
  after(() => client.end());
  return client;
}

/**
 * The listing's candidates as one scan of the whole log finds them (as the log store read them before
 * it read by generation), and their edge: their last when there are `lim`, or higher, where a scan
 * stopped for its budget.
 */
const REFERENCE = `
  SELECT x.ids, greatest(CASE WHEN cardinality(x.ids) = $4::int THEN x.ids[$4::int] END,
                    (SELECT CASE WHEN count(*) = $5::int THEN (array_agg(id ORDER BY id))[1] END FROM (SELECT id FROM jobq.log_all WHERE first AND id < coalesce($1::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY id DESC LIMIT $5) a),
                    (SELECT CASE WHEN count(*) = $5::int THEN (array_agg(id ORDER BY id))[1] END FROM (SELECT id FROM jobq.log_scheduled WHERE first AND id < coalesce($1::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY id DESC LIMIT $5) s)) AS edge
    FROM (SELECT ARRAY(
            SELECT id FROM (
              (SELECT id FROM (SELECT id, queue, kind FROM jobq.log_all WHERE first AND id < coalesce($1::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY id DESC LIMIT $5) a
                WHERE ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR kind = $3) ORDER BY id DESC LIMIT $4)
              UNION ALL
              (SELECT id FROM (SELECT id, queue, kind FROM jobq.log_scheduled WHERE first AND id < coalesce($1::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY id DESC LIMIT $5) s
                WHERE ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR kind = $3) ORDER BY id DESC LIMIT $4)
            ) u ORDER BY id DESC LIMIT $4) AS ids) x`;

const FILTERS: { queue?: string; kind?: string }[] = [{}, { queue: 'a' }, { queue: 'r' }, { kind: 'k2' }, { queue: 'b', kind: 'k1' }, { queue: 'none' }];

test('the log\'s candidates read by generation, newest first, are those of one scan of the whole log, from every cursor', async () => {
  const { queue, db } = await freshQueue({ logStore: true });
  const made = await history(await session(db), queue);
  const afters: (string | null)[] = [null, ...made.map((m) => m.id), v7At(Date.now() + HOUR, 0), '00000000-0000-4000-8000-000000000001'];
  let compared = 0;
  for (const f of FILTERS) {
    for (const [lim, scanRows] of [[1, 1], [3, 4], [5, 2], [2, 50], [10, 7], [60, 10_000]] as const) {
      for (const after of afters) {
        const args = [after, f.queue ?? null, f.kind ?? null, lim, scanRows];
        const [got] = (await db.pool.query('SELECT ids, edge FROM jobq.log_list_ids($1, $2, $3, $4, $5)', args)).rows;
        const [want] = (await db.pool.query(REFERENCE, args)).rows;
        assert.deepEqual(got, want, `after ${after}, ${JSON.stringify(f)}, limit ${lim}, scanning ${scanRows}`);
        compared++;
      }
    }
  }
  assert.equal(compared, FILTERS.length * 6 * afters.length);
});

test('pages walked with any filter, page size and scan budget hold every job once, newest first, as the stores hold them', async () => {
  const { queue, db } = await freshQueue({ logStore: true });
  const made = await history(await session(db), queue);
  for (const [limit, scanRows] of [[3, 4], [5, 2], [2, 50], [10, 7], [100, 10_000]] as const) {
    // (3, 4) with queue a: the scheduled entry of a fills the page while the log's scan stopped short
    // of it: the page ends where the log's did. (5, 2): a budget below the page size, unfiltered:
    // a short page still says where to go on. (Both lost jobs before.)
    const q = new Queue({ pool: db.pool, kinds: testKinds(), logStore: true, listBounds: { scanRows, pageBytes: 8 * 1024 * 1024 } });
    for (const f of FILTERS) {
      const seen: string[] = [];
      for (let cursor: string | null | undefined, pages = 0; cursor !== null; pages++) {
        assert.ok(pages < 100, 'the walk ends');
        const page = await q.list({ ...f, limit, cursor });
        assert.ok(page.jobs.length <= limit);
        seen.push(...page.jobs.map((j) => j.id));
        cursor = page.nextCursor;
      }
      const want = made.filter((m) => (f.queue === undefined || m.queue === f.queue) && (f.kind === undefined || m.kind === f.kind)).map((m) => m.id);
      assert.deepEqual(seen, want, `${JSON.stringify(f)} by ${limit}, scanning ${scanRows}`);
    }
  }
});

/** Scans (index and sequential) of each partition of the log's tables, as the statistics say. */
async function partitionScans(db: TestDatabase): Promise<Map<string, number>> {
  const { rows } = await db.pool.query<{ relname: string; n: string }>(
    `SELECT relname, coalesce(idx_scan, 0) + coalesce(seq_scan, 0) AS n FROM pg_stat_user_tables
      WHERE schemaname = 'jobq' AND relname ~ '^log(_batch|_done|_fail)?_g[0-9]+$'`,
  );
  return new Map(rows.map((r) => [r.relname, Number(r.n)]));
}

test('a first page reads the newest generations only: no partition of the older ones is scanned', async () => {
  const { queue, db } = await freshQueue({ logStore: true });
  const client = await session(db);
  const made = await history(client, queue);
  {
    const before = await partitionScans(db);
    assert.ok(before.size >= 40, 'four tables of ten generations');
    await client.query('BEGIN');
    const page = await queue.list({ limit: 3 }, { db: client });
    await client.query('SELECT pg_stat_force_next_flush()'); // this session's counts, flushed when its transaction ends
    await client.query('COMMIT');
    assert.deepEqual(page.jobs.map((j) => j.id), made.slice(0, 3).map((m) => m.id));
    const after = await partitionScans(db);
    const scanned = [...after].filter(([t, n]) => n > (before.get(t) ?? 0)).map(([t]) => t).sort();
    assert.ok(scanned.some((t) => t === 'log_g10'), `the newest generation is read: ${scanned.join(', ')}`);
    assert.deepEqual(scanned.filter((t) => !/_g(9|10)$/.test(t)), [], 'nothing older than the newest two');
  }
});

test('a listing\'s statement is priced below JIT compilation (which took 280 ms a page when its candidates were guessed at 1000 rows)', async () => {
  const { db } = await freshQueue({ logStore: true });
  const params = { after: null, queue: 'a', kind: null, limit: 100, pageBytes: 8 * 1024 * 1024, scanRows: 10_000 };
  const [{ 'QUERY PLAN': [plan] }] = (await db.pool.query(`EXPLAIN (FORMAT JSON) ${Reads.list.text}`, Reads.list.values(params))).rows;
  const { rows: [{ jit }] } = await db.pool.query("SELECT current_setting('jit_above_cost')::float8 AS jit");
  assert.ok(plan.Plan['Total Cost'] < jit, `${plan.Plan['Total Cost']} against ${jit}`);
});
