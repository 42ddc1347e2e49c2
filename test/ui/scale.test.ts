/**
 * The overview and the jobs list with 100,000 jobs in the database (5 queues, 3 kinds, 4 statuses),
 * inserted in one statement as the read-limit tests seed (generate_series): the views render with the
 * right counts and a full first page. How long each took is printed; no timing is asserted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Dashboard, expectEventually, openTab, skipWithoutChromium, startDashboard } from './helpers.ts';

const N = 100_000;
const skip = skipWithoutChromium();
const d = skip ? (undefined as never as Dashboard) : await startDashboard({ worker: false });
if (!skip) {
  const started = Date.now();
  // Time-ordered ids (UUID v7 layout), created one second apart, newest last; i % 10 picks the status.
  await d.db.pool.query(
    `INSERT INTO jobq.jobs (id, queue, kind, payload, status, attempts, max_attempts, finished_at, last_error, created_at, run_at)
     SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
            'q' || (i % 5), (ARRAY['noop', 'send_email', 'summarize_text'])[1 + i % 3], '{"n": 1}',
            s.status::jobq.job_status,
            CASE WHEN s.status = 'queued' THEN 0 ELSE 1 END, 3,
            CASE WHEN s.status IN ('succeeded', 'failed_permanent', 'cancelled') THEN now() END,
            CASE WHEN s.status = 'failed_permanent' THEN E'Error: bulk\\n    at seed' END,
            now() - (($1::int - i) * interval '1 second'), now() - (($1::int - i) * interval '1 second')
       FROM generate_series(1, $1::int) AS i,
            LATERAL (SELECT CASE WHEN i % 10 < 6 THEN 'succeeded' WHEN i % 10 = 6 THEN 'failed_permanent' WHEN i % 10 = 7 THEN 'cancelled' ELSE 'queued' END AS status) s`,
    [N],
  );
  await d.db.pool.query('VACUUM ANALYZE jobq.jobs');
  console.log(`seeded ${N} jobs in ${Date.now() - started} ms`);
}

test(`overview and jobs list with ${N.toLocaleString('en')} jobs: they render, with the right counts`, { skip, timeout: 120_000 }, async () => {
  const { rows } = await d.db.pool.query<{ status: string; n: number }>('SELECT status::text, count(*)::int AS n FROM jobq.jobs GROUP BY 1');
  const inDb = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  assert.equal(Object.values(inDb).reduce((a, b) => a + b, 0), N);
  const tab = await openTab(d.url);
  const { page } = tab;
  const times: Record<string, number> = {};

  let t = Date.now();
  await page.goto(`${d.url}/ui/`);
  await expectEventually(async () => ((await page.locator('tr[data-queue]').count()) === 5 ? true : undefined), 'the five queues', 60_000);
  times.overview = Date.now() - t;
  const figure = (name: string) => page.locator('.figures div', { hasText: name }).first().locator('dd').innerText();
  assert.equal(await figure('Succeeded'), inDb.succeeded!.toLocaleString('en-US'));
  assert.equal(await figure('Failed'), inDb.failed_permanent!.toLocaleString('en-US'));
  assert.equal(await figure('Waiting'), inDb.queued!.toLocaleString('en-US'));
  // q3 holds i % 10 in {3, 8}: its queued jobs are one in ten; q0 holds {0, 5}: succeeded only.
  assert.equal((await page.locator('tr[data-queue="q3"] td.num').allInnerTexts())[0], (N / 10).toLocaleString('en-US'));
  assert.equal((await page.locator('tr[data-queue="q0"] td.num').allInnerTexts())[4], (N / 5).toLocaleString('en-US'));

  t = Date.now();
  await page.goto(`${d.url}/ui/jobs`);
  await expectEventually(async () => ((await page.locator('table.jobs tbody tr').count()) === 50 ? true : undefined), 'the first page', 60_000);
  times.jobs = Date.now() - t;
  assert.equal(await page.locator('table.jobs tbody tr').first().getAttribute('data-id'), `00000000-0000-7000-8000-${N.toString(16).padStart(12, '0')}`, 'the newest first');

  t = Date.now();
  await page.goto(`${d.url}/ui/jobs?status=failed_permanent&kind=summarize_text&queue=q1`);
  await expectEventually(async () => ((await page.locator('table.jobs tbody tr').count()) === 50 ? true : undefined), 'a filtered page', 60_000);
  times.filtered = Date.now() - t;
  assert.deepEqual(new Set(await page.locator('table.jobs .badge').allInnerTexts()), new Set(['failed']));

  t = Date.now();
  await page.getByRole('link', { name: 'Next page' }).click();
  await page.waitForURL(/cursor=/);
  await expectEventually(async () => ((await page.locator('table.jobs tbody tr').count()) === 50 && (await page.getByRole('link', { name: 'First page' }).count()) === 1 ? true : undefined), 'the next page', 60_000);
  times.nextPage = Date.now() - t;
  // A filter nothing matches: a page examines 10,000 jobs at most, so the first page is empty and yet
  // the older jobs remain to be looked at; the page says so and offers the next one.
  await page.goto(`${d.url}/ui/jobs?queue=nowhere`);
  await expectEventually(async () => ((await page.locator('p.empty').count()) === 1 ? true : undefined), 'the empty page', 60_000);
  assert.match(await page.locator('p.empty').innerText(), /examined.*next page/);
  assert.equal(await page.getByRole('link', { name: 'Next page' }).count(), 1);
  console.log(`with ${N} jobs: overview ${times.overview} ms, jobs list ${times.jobs} ms, filtered list ${times.filtered} ms, next page ${times.nextPage} ms (goto until rendered)`);
  tab.assertClean();
});
