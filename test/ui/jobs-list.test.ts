/**
 * The jobs list in Chromium: filters by status, kind, queue and group are selects and inputs whose
 * every change is in the URL (back goes to the previous filter, a reload shows the same rows), pages
 * follow the API's keyset cursor (Next page, First page), and the search box takes a job id or an
 * idempotency key. No worker runs: the jobs stay as the test made them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Dashboard, expectEventually, openTab, skipWithoutChromium, startDashboard } from './helpers.ts';

const skip = skipWithoutChromium();
const d = skip ? (undefined as never as Dashboard) : await startDashboard({ worker: false });
const ids = { mail: [] as string[], reports: [] as string[], cancelled: [] as string[], acme: [] as string[], keyed: '' };
if (!skip) {
  const mail = await d.queue.enqueueMany(Array.from({ length: 60 }, (_, i) => ({ kind: 'noop', payload: {}, queue: 'mail', ...(i % 10 === 0 ? { group: 'acme' } : {}) })));
  ids.mail = mail.map((r) => r.job.id);
  ids.acme = mail.filter((r) => r.job.group === 'acme').map((r) => r.job.id);
  const reports = await d.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ kind: 'summarize_text', payload: { text: `Report ${i}. Done.` }, queue: 'reports' })));
  ids.reports = reports.map((r) => r.job.id);
  for (const id of ids.reports.slice(0, 7)) await d.queue.requestCancel(id);
  ids.cancelled = ids.reports.slice(0, 7);
  ids.keyed = (await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail', idempotencyKey: 'order-1234' })).job.id;
}
const newestFirst = (list: string[]) => [...list].sort().reverse();

async function rowIds(page: import('playwright-core').Page): Promise<string[]> {
  await page.locator('table.jobs tbody tr, p.empty').first().waitFor();
  return page.locator('table.jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')!));
}

test('filters by status, queue and kind go in the URL; back and reload show the same rows', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs`);
  await rowIds(page);
  await page.locator('#f-status').selectOption('cancelled');
  await page.waitForURL(`${d.url}/ui/jobs?status=cancelled`);
  await expectEventually(async () => ((await rowIds(page)).length === 7 ? true : undefined), 'the cancelled jobs');
  assert.deepEqual(await rowIds(page), newestFirst(ids.cancelled));
  assert.deepEqual(new Set(await page.locator('table.jobs .badge').allInnerTexts()), new Set(['cancelled']));
  assert.match(await page.title(), /^Jobs \(status cancelled\) · jobq$/);

  await expectEventually(async () => ((await page.locator('#f-queue option', { hasText: 'reports' }).count()) === 1 ? true : undefined), 'the queue choices');
  await page.locator('#f-queue').selectOption('reports');
  await page.waitForURL(`${d.url}/ui/jobs?status=cancelled&queue=reports`);
  assert.deepEqual(await rowIds(page), newestFirst(ids.cancelled));
  await page.locator('#f-kind').selectOption('noop');
  await page.waitForURL(`${d.url}/ui/jobs?status=cancelled&queue=reports&kind=noop`);
  await page.locator('p.empty').waitFor();
  assert.deepEqual(await rowIds(page), []);

  await page.goBack();
  await page.waitForURL(`${d.url}/ui/jobs?status=cancelled&queue=reports`);
  await expectEventually(async () => ((await rowIds(page)).length === 7 ? true : undefined), 'the previous filter again');
  assert.equal(await page.locator('#f-kind').inputValue(), '', 'the selects follow the URL');
  await page.reload();
  assert.deepEqual(await rowIds(page), newestFirst(ids.cancelled));
  assert.equal(await page.locator('#f-status').inputValue(), 'cancelled');
  assert.equal(await page.locator('#f-queue').inputValue(), 'reports');

  // A shared URL opens on its filter.
  await page.goto(`${d.url}/ui/jobs?kind=summarize_text&status=queued`);
  assert.deepEqual(await rowIds(page), newestFirst(ids.reports.slice(7)));
  tab.assertClean();
});

test('Next page follows the cursor (in the URL, so a reload shows that page); First page goes back', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs?queue=mail`);
  const all = newestFirst([...ids.mail, ids.keyed]);
  assert.deepEqual(await rowIds(page), all.slice(0, 50));
  assert.equal(await page.getByRole('link', { name: 'First page' }).count(), 0);
  await page.getByRole('link', { name: 'Next page' }).click();
  await page.waitForURL(/\/ui\/jobs\?queue=mail&cursor=[A-Za-z0-9_-]+$/);
  await expectEventually(async () => ((await rowIds(page)).length === 11 ? true : undefined), 'the second page');
  assert.deepEqual(await rowIds(page), all.slice(50));
  assert.equal(await page.getByRole('link', { name: 'Next page' }).count(), 0, 'the last page');
  await page.reload();
  assert.deepEqual(await rowIds(page), all.slice(50));
  await page.getByRole('link', { name: 'First page' }).click();
  await page.waitForURL(`${d.url}/ui/jobs?queue=mail`);
  await expectEventually(async () => ((await rowIds(page)).length === 50 ? true : undefined), 'the first page again');
  tab.assertClean();
});

test('group filter, and the search box: an idempotency key filters, a job id opens the job', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs`);
  await rowIds(page);
  await page.locator('#f-group').fill('acme');
  await page.locator('#f-group').press('Enter');
  await page.waitForURL(`${d.url}/ui/jobs?group=acme`);
  await expectEventually(async () => ((await rowIds(page)).length === ids.acme.length ? true : undefined), 'the group acme');
  assert.deepEqual(await rowIds(page), newestFirst(ids.acme));

  await page.locator('#search').fill('order-1234');
  await page.locator('#search').press('Enter');
  await page.waitForURL(`${d.url}/ui/jobs?idempotency_key=order-1234`);
  await expectEventually(async () => ((await rowIds(page)).length === 1 ? true : undefined), 'the keyed job');
  assert.deepEqual(await rowIds(page), [ids.keyed]);

  await page.locator('#search').fill(ids.reports[3]!.toUpperCase());
  await page.locator('#search').press('Enter');
  await page.waitForURL(`${d.url}/ui/jobs/${ids.reports[3]}`);
  await page.getByTestId('job-status').waitFor();
  tab.assertClean();
});
