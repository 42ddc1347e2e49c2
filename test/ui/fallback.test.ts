/**
 * When the event stream is refused (the hub holds no more streams: 503 too_many_streams), the list
 * refreshes every 5 s instead, and no more often: a job enqueued meanwhile appears, and the page's
 * first four reads of the list lie at least 5 s apart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Dashboard, expectEventually, openTab, skipWithoutChromium, startDashboard } from './helpers.ts';

const skip = skipWithoutChromium();
const d = skip ? (undefined as never as Dashboard) : await startDashboard({ worker: false, hubOptions: { maxStreams: 0 } });

test('streams refused: "refreshing every 5 s", a new job appears, and the list is read no more than every 5 s', { skip, timeout: 60_000 }, async () => {
  await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' });
  const tab = await openTab(d.url);
  const { page } = tab;
  const reads: number[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/v1/jobs') reads.push(Date.now());
  });
  await page.goto(`${d.url}/ui/jobs?queue=mail`);
  await page.locator('table.jobs tbody tr').first().waitFor();
  await page.getByText('Live updates unavailable: refreshing every 5 s').waitFor();
  const made = (await d.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' })).job.id;
  await page.locator(`tr[data-id="${made}"]`).waitFor({ timeout: 8_000 });
  // The first load, then one read per 5 s: never two closer together (a timer may fire a little early).
  await expectEventually(async () => (reads.length >= 4 ? true : undefined), 'four reads of the list', 30_000);
  const gaps = reads.slice(1, 4).map((t, i) => t - reads[i]!);
  assert.ok(gaps.every((g) => g >= 4_900), `gaps between reads: ${gaps.join(', ')} ms`);
  tab.assertClean(/status of 503/);
});
