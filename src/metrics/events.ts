/**
 * Job events' metrics (issue #19): what this process's publisher sent and dropped, from the queue's
 * `eventsPublished` event. A process publishes only while some process listens, so both stay flat in a
 * deployment that never watches a job.
 */
import client from 'prom-client';
import type { Queue } from '../queue/index.ts';

export function eventMetrics(queue: Queue, registers: client.Registry[]): void {
  const published = new client.Counter({
    name: 'jobq_events_published_total',
    help: 'Job events this process published (sent as notifications on jobq_events).',
    registers,
  });
  const dropped = new client.Counter({
    name: 'jobq_events_dropped_total',
    help: 'Job events this process dropped: their publish failed, or its buffer overflowed while the database was away.',
    registers,
  });
  queue.events.on('eventsPublished', (r) => {
    if (r.published > 0) published.inc(r.published);
    if (r.dropped > 0) dropped.inc(r.dropped);
  });
}
