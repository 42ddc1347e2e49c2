/**
 * When the event stream is refused (the hub holds no more streams: 503 too_many_streams), the list
 * refreshes every 5 s instead, and no more often: a job enqueued meanwhile appears, and in 12 s the
 * page lists at most 4 times (the first load and one every 5 s).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Dashboard, openTab, skipWithoutChromium, startDashboard } from './helpers.ts';

const skip = skipWithoutChromium();
const d = skip ? (undefined as never as Dashboard) : await startDashboard({ worker: false, hubOptions: { maxStreams: 0 } });

test('streams refused: "refreshing every 5 s", a new job appears, and the list is read no more than every 5 s', { skip, timeout: 60_000 }, async () => {
  await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' });
  const tab = await openTab(d.url);
  const { page } = tab;
  const start = Date.now();
  await page.goto(`${d.url}/ui/jobs?queue=mail`);
  await page.locator('table.jobs tbody tr').first().waitFor();
  await page.getByText('Live updates unavailable: refreshing every 5 s').waitFor();
  const made = (await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' })).job.id;
  await page.locator(`tr[data-id="${made}"]`).waitFor({ timeout: 8_000 });
  const lists = () => tab.requests.filter((u) => new URL(u).pathname === '/v1/jobs').length;
  // Watch the page for a while: whatever happens, never faster than every 5 s.
  await page.waitForTimeout(Math.max(0, 12_000 - (Date.now() - start)));
  const elapsed = Date.now() - start;
  assert.ok(lists() <= 1 + Math.floor(elapsed / 5_000), `${lists()} list requests in ${elapsed} ms`);
  assert.ok(lists() >= 2, 'it did refresh');
  tab.assertClean(/status of 503/);
});
