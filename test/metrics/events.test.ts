/**
 * Job events' metrics: jobq_events_published_total moves by the events sent, jobq_events_dropped_total
 * by those whose publish failed; both stay at 0 while nobody listens.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics } from '../../src/metrics/metrics.ts';
import * as Events from '../../src/queue/statements/events.ts';
import { freshQueue, noopJob as noop } from '../helpers/fixtures.ts';
import { parseExposition, value } from './exposition.ts';

test('jobq_events_published_total and jobq_events_dropped_total count what the publisher sent and dropped', async () => {
  const { queue, db } = await freshQueue();
  const metrics = createMetrics({ queue, processMetrics: false, statsCacheMs: 0 });
  const read = async () => {
    const samples = parseExposition(await metrics.render());
    return { published: value(samples, 'jobq_events_published_total'), dropped: value(samples, 'jobq_events_dropped_total') };
  };
  await queue.enqueueMany([noop(), noop()]);
  await queue.publisher.flush();
  assert.deepEqual(await read(), { published: 0, dropped: 0 }, 'nobody listens');

  await Events.registerListener(db.pool, { id: 'watcher', ttlMs: 60_000 });
  queue.publisher.onListenersChanged(); // what the LISTEN connection of a worker does
  await queue.enqueueMany([noop(), noop(), noop()]);
  await queue.publisher.flush();
  assert.deepEqual(await read(), { published: 3, dropped: 0 });

  await db.pool.query('ALTER SEQUENCE jobq.event_ids RENAME TO event_ids_away'); // the publish statement fails
  await queue.enqueue(noop());
  await queue.publisher.flush();
  assert.deepEqual(await read(), { published: 3, dropped: 1 });
});
