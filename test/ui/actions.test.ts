/**
 * The dashboard's actions and live updates against a live jobq, in Chromium: Cancel and Retry change
 * the job in the database (read with the Queue) and on the page at once; Pause and Resume change the
 * queue; a job finished by the worker while its page is open shows its new status without a reload;
 * a list shows a new job from the event stream; a schedule shows when it fires and "Run now" makes its
 * job. (With streams refused, the views refresh every 5 s: fallback.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from '../../src/client.ts';
import { type Dashboard, expectEventually, openTab, type Seeded, seed, skipWithoutChromium, startDashboard } from './helpers.ts';

const skip = skipWithoutChromium();
const d = skip ? (undefined as never as Dashboard) : await startDashboard();
const jobs = skip ? (undefined as never as Seeded) : await seed(d);
const statusOf = async (id: string) => (await d.queue.get(id))?.status;

test('Cancel on a queued job in the list: confirmed, the database says cancelled, the row too', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs?queue=imports`);
  const row = page.locator(`tr[data-id="${jobs.queued[0]}"]`);
  await row.waitFor();
  assert.equal(await row.locator('.badge').innerText(), 'queued');
  await row.getByRole('button', { name: 'Cancel' }).click();
  const dialog = page.getByRole('dialog');
  assert.match(await dialog.innerText(), new RegExp(`Cancel job ${jobs.queued[0]}`));
  await dialog.getByRole('button', { name: 'Cancel job' }).click();
  await expectEventually(async () => ((await row.locator('.badge').innerText()) === 'cancelled' ? true : undefined), 'the row to say cancelled');
  assert.equal(await statusOf(jobs.queued[0]!), 'cancelled');
  assert.equal(await statusOf(jobs.queued[1]!), 'queued', 'only that one');
  assert.equal(await row.getByRole('button', { name: 'Retry' }).count(), 1, 'a cancelled job offers Retry');
  tab.assertClean();
});

test('Retry on a failed job in its view: the database says queued again, attempts reset, the page too', { skip }, async () => {
  await d.queue.pauseQueue('reports'); // so that the retried job stays queued for the test to see
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs/${jobs.failed}`);
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Retry job' }).click();
  await expectEventually(async () => ((await page.getByTestId('job-status').innerText()) === 'queued' ? true : undefined), 'the page to say queued');
  const job = await d.queue.get(jobs.failed);
  assert.equal(job?.status, 'queued');
  assert.equal(job?.attempts, 0);
  assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 1, 'an unfinished job offers Cancel');
  await d.queue.resumeQueue('reports');
  tab.assertClean();
});

test('Pause and Resume a queue from the overview change the database and the row', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/`);
  const row = page.locator('tr[data-queue="imports"]');
  await row.waitFor();
  assert.equal(await row.locator('.badge').innerText(), 'active');
  await row.getByRole('button', { name: 'Pause' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Pause imports' }).click();
  await expectEventually(async () => ((await row.locator('.badge').innerText()) === 'paused' ? true : undefined), 'the row to say paused');
  assert.equal((await d.queue.getQueue('imports')).paused, true);
  await row.getByRole('button', { name: 'Resume' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Resume imports' }).click();
  await expectEventually(async () => ((await row.locator('.badge').innerText()) === 'active' ? true : undefined), 'the row to say active');
  assert.equal((await d.queue.getQueue('imports')).paused, false);
  tab.assertClean();
});

test('live: the running job finishes while its page is open; the page shows succeeded and its result without a reload', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs/${jobs.running}`);
  await page.locator('#job-progress').waitFor();
  assert.equal(await page.getByTestId('job-status').innerText(), 'running');
  // The job's stream is up once its first frame (the job's state) came.
  await expectEventually(async () => ((await page.locator('.live').innerText()) === 'Live: updates as jobs change' ? true : undefined), 'the stream to be up');
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  d.gates.get('a')!.open();
  await expectEventually(async () => ((await page.getByTestId('job-status').innerText()) === 'succeeded' ? true : undefined), 'the page to say succeeded');
  await page.getByRole('group', { name: 'Result' }).waitFor();
  assert.match(await page.getByRole('group', { name: 'Result' }).innerText(), /"done": true/);
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the same page: no reload');
  assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 0);
  tab.assertClean();
});

test('live: a list filtered by queue shows a job enqueued meanwhile, from the event stream', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs?queue=imports`);
  await page.locator('table.jobs tbody tr').first().waitFor();
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
  const listCalls = () => tab.requests.filter((u) => new URL(u).pathname === '/v1/jobs').length;
  // Once the stream is up, the list is read once more (what changed before it was up), then only on events.
  await expectEventually(async () => ((await page.locator('.live').innerText()) === 'Live: updates as jobs change' ? true : undefined), 'the stream to be up');
  await expectEventually(() => (listCalls() >= 2 ? true : undefined), 'the read after the stream opened');
  const before = listCalls();
  const made = (await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'imports' })).job.id;
  await page.locator(`tr[data-id="${made}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('.live').innerText(), 'Live: updates as jobs change', `${await page.locator('.live').getAttribute('title')}`);
  assert.ok(listCalls() - before <= 2, `refetched ${listCalls() - before} times for one event`);
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 7);
  tab.assertClean();
});

test('live: a job enqueued after the list was read but before its stream answered still shows (the list is read again once the stream is up)', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  let made: string | undefined;
  const listRead = new Promise<void>((resolve) => page.on('response', (r) => new URL(r.url()).pathname === '/v1/jobs' && resolve()));
  // A watcher of our own, to know when the server has sent the job's event to the streams it had.
  const ac = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const events = createClient({ baseUrl: d.url }).watch({ queue: 'imports' }, { signal: ac.signal, onOpen: () => opened() });
  const sent = (async () => {
    for await (const e of events) if (e.type === 'enqueued' && e.id === made) return;
  })();
  await open;
  // Hold the page's stream until the list has been read, then a job enqueued and its event sent: neither
  // that read nor that event can show the job.
  await page.route('**/v1/events?*', async (route) => {
    await listRead;
    made ??= (await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'imports' })).job.id;
    await sent;
    await route.continue();
  });
  await page.goto(`${d.url}/ui/jobs?queue=imports`);
  await page.locator('table.jobs tbody tr').first().waitFor();
  await expectEventually(() => made, 'the job enqueued while the stream was held');
  await page.locator(`tr[data-id="${made}"]`).waitFor({ timeout: 10_000 });
  ac.abort();
  tab.assertClean();
});

test('Schedules on the overview: when each fires and what it makes; Run now enqueues its job and opens it', { skip }, async () => {
  const client = createClient({ baseUrl: d.url });
  await client.setSchedule('nightly-report', { cron: '0 3 * * *', timezone: 'Europe/Paris', job: { kind: 'noop', payload: { sleep_ms: 1 }, queue: 'imports' } });
  const saved = await client.getSchedule('nightly-report');
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/`);
  const row = page.locator('tr[data-schedule="nightly-report"]');
  await row.waitFor();
  assert.match(await row.innerText(), /0 3 \* \* \*\s+Europe\/Paris/);
  assert.match(await row.innerText(), /noop on imports/);
  assert.equal(await row.locator('time').first().getAttribute('datetime'), saved.next_fire_at, 'the next tick, its UTC value kept');
  await row.getByRole('button', { name: 'Run now' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Run nightly-report now' }).click();
  await page.waitForURL(/\/ui\/jobs\/[0-9a-f-]{36}$/);
  const id = new URL(page.url()).pathname.split('/').pop()!;
  const job = await d.queue.get(id);
  assert.deepEqual([job?.kind, job?.queue, job?.payload], ['noop', 'imports', { sleep_ms: 1 }]);
  assert.equal((await client.getSchedule('nightly-report')).next_fire_at, saved.next_fire_at, 'its ticks unchanged');
  await page.goto(`${d.url}/ui/`);
  await expectEventually(async () => ((await row.locator(`a[href="/ui/jobs/${id}"]`).count()) === 1 ? true : undefined), 'the last job to be the one just made');
  tab.assertClean();
});
