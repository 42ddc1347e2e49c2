/**
 * The dashboard behind API keys, in Chromium: the page asks for a key, a wrong one is refused, the
 * right one shows the data (sent as a bearer token), it is kept in sessionStorage across a reload (and
 * not in another session), and "Forget key" drops it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Dashboard, openTab, skipWithoutChromium, startDashboard } from './helpers.ts';

const KEY = 'dashboard-admin-key-1';
const skip = skipWithoutChromium();
const d = skip ? (undefined as never as Dashboard) : await startDashboard({ worker: false, apiKeys: [`ops:admin:${KEY}`] });
if (!skip) await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' });

test('with keys set: a key is asked for, a wrong one refused, the right one kept in sessionStorage across a reload', { skip }, async () => {
  const tab = await openTab(d.url);
  const { page } = tab;
  const auths: (string | undefined)[] = [];
  page.on('request', (r) => new URL(r.url()).pathname.startsWith('/v1/') && auths.push(r.headers().authorization));
  await page.goto(`${d.url}/ui/`);
  await page.getByRole('heading', { name: 'API key needed' }).waitFor();
  assert.equal(await page.locator('tr[data-queue]').count(), 0, 'no data without a key');

  await page.getByLabel('API key', { exact: true }).fill('not-the-key');
  await page.getByRole('button', { name: 'Use this key' }).click();
  await page.getByRole('alert').filter({ hasText: 'refused that key' }).waitFor();
  assert.equal(await page.locator('tr[data-queue]').count(), 0);

  await page.getByLabel('API key', { exact: true }).fill(KEY);
  await page.getByRole('button', { name: 'Use this key' }).click();
  await page.locator('tr[data-queue="mail"]').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('jobq.apiKey')), KEY);
  assert.ok(auths.includes(`Bearer ${KEY}`), 'the key goes as a bearer token');

  await page.reload();
  await page.locator('tr[data-queue="mail"]').waitFor();
  assert.equal(await page.getByRole('heading', { name: 'API key needed' }).count(), 0, 'no prompt after a reload');
  await page.goto(`${d.url}/ui/jobs?queue=mail`);
  await page.locator('table.jobs tbody tr').first().waitFor();

  // Another session (a new context) has no key.
  const other = await openTab(d.url);
  await other.page.goto(`${d.url}/ui/`);
  await other.page.getByRole('heading', { name: 'API key needed' }).waitFor();

  await page.getByRole('button', { name: 'Forget key' }).click();
  await page.getByRole('heading', { name: 'API key needed' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('jobq.apiKey')), null);
  tab.assertClean(/status of 401/);
  other.assertClean(/status of 401/);
});

test('without keys no prompt appears', { skip }, async () => {
  const open = await startDashboard({ worker: false });
  await open.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' });
  const tab = await openTab(open.url);
  await tab.page.goto(`${open.url}/ui/`);
  await tab.page.locator('tr[data-queue="mail"]').waitFor();
  assert.equal(await tab.page.getByRole('heading', { name: 'API key needed' }).count(), 0);
  assert.equal(await tab.page.getByRole('button', { name: 'Forget key' }).count(), 0);
  tab.assertClean();
});
