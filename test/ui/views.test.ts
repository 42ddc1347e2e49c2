/**
 * Every view of the dashboard against a live jobq with real jobs (several queues; succeeded; failed with
 * a real stack after retries; running with progress; waiting for a parent; queued), in Chromium: what
 * each shows, that each has a URL of its own and a title, that the page asks nothing of another origin
 * and logs no error or CSP violation, keyboard use, and dark mode. Screenshots go to a temporary
 * directory (and to docs/ui/ with JOBQ_UPDATE_SCREENSHOTS=1).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtUi, type Dashboard, expectEventually, openTab, screenshot, seed, type Seeded, skipWithoutChromium, startDashboard, tempDir } from './helpers.ts';

const skip = skipWithoutChromium();
// At the file's top level: what `after` hooks these register (server, database, browser) end with the file.
const d = skip ? (undefined as never as Dashboard) : await startDashboard();
const jobs = skip ? (undefined as never as Seeded) : await seed(d);
const shots = skip ? '' : tempDir();
if (!skip) for (const f of (await builtUi()).files) console.log(`bundle ${f.file}: ${f.bytes} B, ${f.gzipBytes} B gzipped`);

test('the overview lists every queue with its counts, throughput chart, oldest waiting age and state', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/`);
  assert.equal(await page.title(), 'Overview · jobq');
  const row = (q: string) => page.locator(`tr[data-queue="${q}"]`);
  await expectEventually(async () => ((await row('imports').count()) === 1 ? true : undefined), 'the queues table');
  assert.deepEqual(await page.locator('tr[data-queue]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-queue'))), ['default', 'imports', 'mail', 'reports']);
  const cells = async (q: string) => (await row(q).locator('td.num').allInnerTexts()).map((t) => t.trim());
  // waiting (queued + waiting for parents), running, retrying, failed, succeeded
  assert.deepEqual(await cells('default'), ['1', '0', '0', '0', '2']);
  assert.equal(await row('default').locator('td.num').first().getAttribute('title'), '0 queued, 1 waiting for parents');
  assert.deepEqual(await cells('imports'), ['2', '0', '0', '0', '0']);
  assert.deepEqual(await cells('mail'), ['0', '1', '0', '0', '1']);
  assert.deepEqual(await cells('reports'), ['0', '0', '0', '1', '2']);
  // The chart draws the minute's outcomes and says them in words.
  const chart = row('reports').locator('svg.chart');
  await expectEventually(async () => ((await chart.getAttribute('aria-label'))?.includes('2 succeeded, 1 failed') ? true : undefined), 'the reports chart');
  assert.ok((await chart.locator('rect.bar-ok').count()) >= 1);
  assert.ok((await chart.locator('rect.bar-fail').count()) >= 1);
  assert.match(await row('imports').locator('td').nth(6).innerText(), /\d+(\.\d)? s|ms|min/, 'the oldest waiting job of imports has an age');
  assert.equal(await row('imports').locator('.badge').innerText(), 'active');
  // The fleet: the one worker, alive, 1 of its 4 slots busy (the gated job).
  await expectEventually(async () => ((await page.getByTestId('workers-alive').innerText()) === '1' ? true : undefined), 'the fleet panel');
  assert.equal(await page.getByTestId('slots-busy').innerText(), '1 / 4');
  await screenshot(page, shots, 'overview');
  tab.assertClean();
});

test('the jobs list shows rows newest first and the job view shows payload, attempts with stacks, progress and relations', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs`);
  await page.locator('table.jobs tbody tr').first().waitFor();
  assert.equal(await page.title(), 'Jobs · jobq');
  const ids = await page.locator('table.jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
  assert.equal(ids.length, 10);
  assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first (ids are time-ordered)');
  const failedRow = page.locator(`tr[data-id="${jobs.failed}"]`);
  assert.equal(await failedRow.locator('.badge').innerText(), 'failed');
  assert.equal(await failedRow.locator('td.num').innerText(), '3/3');
  await screenshot(page, shots, 'jobs');

  // A click on the id goes to the job without a reload: the attempt history has the three errors, message and stack.
  await failedRow.getByRole('link', { name: `Job ${jobs.failed}` }).click();
  await page.waitForURL(`${d.url}/ui/jobs/${jobs.failed}`);
  await page.locator('ol.attempts li').first().waitFor();
  assert.match(await page.title(), /^boom …[0-9a-f]{8} \(failed_permanent\) · jobq$/);
  assert.equal(await page.locator('ol.attempts li').count(), 3);
  assert.deepEqual(await page.locator('.err-message').allInnerTexts(), Array(3).fill('Error: the printer is on fire'));
  const stack = page.locator('ol.attempts li').first().locator('details');
  assert.equal(await stack.locator('pre').isVisible(), false, 'the stack is folded');
  await stack.locator('summary').click();
  assert.match(await stack.locator('pre').innerText(), /at .*helpers\.ts/, 'a real stack, from the handler');
  assert.equal(await page.getByRole('button', { name: 'Retry' }).count(), 1);
  assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 0);
  await screenshot(page, shots, 'job');

  // The running job: progress, message, a child waiting for it; Cancel offered.
  await page.goto(`${d.url}/ui/jobs/${jobs.running}`);
  await page.locator('#job-progress').waitFor();
  assert.equal(await page.locator('#job-progress').getAttribute('value'), '0.25');
  assert.match(await page.locator('.progress label').innerText(), /25% \(1 of 4\)/);
  assert.equal(await page.locator('.progress-message').innerText(), 'step 1 of 4: waiting for the gate');
  assert.equal(await page.getByTestId('job-status').innerText(), 'running');
  assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 1);
  // Its start: shown when the claim recorded it; for a job that started from its worker's buffer, it is
  // stored with the attempt's outcome (test/worker/started-at.test.ts), and the page says so meanwhile.
  const { startedAt } = (await d.queue.get(jobs.running))!;
  const startCell = page.locator('.timings div', { hasText: 'Started' });
  const wait = await page.locator('.timings div', { hasText: 'Wait time' }).locator('dd').innerText();
  if (startedAt) {
    assert.equal(await startCell.locator('time').getAttribute('datetime'), startedAt.toISOString(), 'the start time is shown');
    assert.notEqual(wait, '—');
  } else {
    assert.match(await startCell.getByTestId('start-pending').innerText(), /stored when this attempt ends/);
    assert.equal(wait, '—');
  }
  // Its child, waiting for it, is listed with its status, as a link.
  const childRow = page.locator(`#children-h ~ table tr[data-id="${jobs.child}"]`);
  await childRow.waitFor();
  assert.equal(await childRow.locator('.badge').innerText(), 'waiting');
  assert.equal(await childRow.getByRole('link').getAttribute('href'), `/ui/jobs/${jobs.child}`);
  // The child lists its parent with the parent's status, as a link.
  await page.goto(`${d.url}/ui/jobs/${jobs.child}`);
  const parent = page.locator(`#parents-h ~ table tr[data-id="${jobs.running}"]`);
  await parent.waitFor();
  assert.equal(await parent.locator('.badge').innerText(), 'running');
  assert.equal(await parent.getByRole('link').getAttribute('href'), `/ui/jobs/${jobs.running}`);
  assert.equal(await page.getByTestId('job-status').innerText(), 'waiting');

  // A succeeded job with a long payload: the text folds behind <details>; the result is shown.
  await page.goto(`${d.url}/ui/jobs/${jobs.summary}`);
  const payload = page.getByRole('group', { name: 'Payload' });
  await payload.waitFor();
  assert.match(await payload.locator('details > summary').innerText(), /characters\)$/);
  assert.equal(await payload.locator('details .j-str').isVisible(), false);
  await payload.locator('details > summary').click();
  assert.match(await payload.locator('details .j-str').innerText(), /It ends here/);
  assert.equal(await page.getByRole('group', { name: 'Result' }).count(), 1);
  const enqueued = page.locator('.timings div', { hasText: 'Enqueued' }).locator('time');
  assert.match((await enqueued.getAttribute('title'))!, /^\d{4}-\d\d-\d\dT.*Z \(UTC\)$/, 'the UTC value on hover');
  assert.match((await enqueued.getAttribute('datetime'))!, /Z$/);
  await screenshot(page, shots, 'job-succeeded');
  tab.assertClean();
});

test('the enqueue form: schema shown, JSON syntax checked, server validation shown, success goes to the job', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/enqueue`);
  await page.locator('#e-kind').selectOption('boom');
  await page.locator('details.schema summary').click();
  assert.match(await page.locator('details.schema').innerText(), /"message"/);
  await page.locator('#payload').fill('{"message": ');
  await page.getByRole('button', { name: 'Enqueue…' }).click();
  assert.match(await page.locator('#payload-error').innerText(), /not valid JSON/);
  await page.locator('#payload').fill('{"msg": 1}');
  await page.getByRole('button', { name: 'Enqueue…' }).click();
  await page.getByRole('button', { name: 'Enqueue', exact: true }).click();
  const refused = page.locator('.error', { hasText: 'The server refused the job' });
  await refused.waitFor();
  assert.match(await refused.innerText(), /payload_invalid — .*\n*.*\/payload\/message/s);
  await page.locator('#payload').fill('{"message": "made in the browser"}');
  await page.locator('#e-queue').fill('imports');
  await page.getByRole('button', { name: 'Enqueue…' }).click();
  await page.getByRole('button', { name: 'Enqueue', exact: true }).click();
  await page.waitForURL(/\/ui\/jobs\/[0-9a-f-]{36}$/);
  const id = page.url().split('/').at(-1)!;
  const job = await d.queue.get(id);
  assert.deepEqual([job?.kind, job?.queue, job?.payload], ['boom', 'imports', { message: 'made in the browser' }]);
  await page.getByTestId('job-status').waitFor();
  assert.equal(await page.getByTestId('job-status').innerText(), 'queued');
  tab.assertClean(/status of 400/);
});

test('keyboard: a skip link, Tab reaches the filters and the actions, `/` focuses the search, Enter on an id opens it', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  await page.goto(`${d.url}/ui/jobs?queue=reports`);
  await page.locator('table.jobs tbody tr').first().waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  const reached = new Set<string>();
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const label = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? `${el.tagName}#${el.id}:${el.textContent?.trim().slice(0, 20) ?? ''}` : '';
    });
    reached.add(label);
  }
  const has = (re: RegExp) => [...reached].some((l) => re.test(l));
  for (const re of [/^SELECT#f-status/, /^SELECT#f-kind/, /^SELECT#f-queue/, /^INPUT#f-group/, /^BUTTON#:Retry$/, /^INPUT#search/]) assert.ok(has(re), `Tab reaches ${re}: ${[...reached].join(' | ')}`);
  // The focus is visible: the focused element has an outline.
  await page.locator('#f-status').focus();
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Tab');
  assert.notEqual(await page.locator('#f-status').evaluate((el) => getComputedStyle(el).outlineStyle), 'none');
  // `/` focuses the search; typing an id and Enter goes to that job.
  await page.locator('main h1').click();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'search');
  await page.keyboard.type(jobs.failed);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${d.url}/ui/jobs/${jobs.failed}`);
  // The confirmation is a modal dialog operable by keyboard: Escape leaves the job as it was.
  await page.getByRole('button', { name: 'Retry' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Retry job', 'the dialog takes the focus');
  await page.keyboard.press('Escape');
  await expectEventually(async () => ((await dialog.isVisible()) ? undefined : true), 'the dialog to close');
  assert.equal((await d.queue.get(jobs.failed))?.status, 'failed_permanent');
  tab.assertClean();
});

test('dark mode: a dark background and light text, from prefers-color-scheme', { skip }, async () => {
  const tab = await openTab(d.url, { colorScheme: 'dark' });
  const { page } = tab;
  await page.goto(`${d.url}/ui/`);
  await page.locator('tr[data-queue]').first().waitFor();
  const lum = (rgb: string) => {
    const [r, g, b] = rgb.match(/\d+/g)!.map(Number).map((c) => c! / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const { bg, fg } = await page.evaluate(() => ({ bg: getComputedStyle(document.body).backgroundColor, fg: getComputedStyle(document.body).color }));
  assert.ok(lum(bg) < 0.05, `dark background: ${bg}`);
  const contrast = (lum(fg) + 0.05) / (lum(bg) + 0.05);
  assert.ok(contrast >= 7, `text contrast ${contrast.toFixed(1)}:1`);
  await screenshot(page, shots, 'overview-dark');
  tab.assertClean();
});
