/**
 * Recurring-job metrics (issue #18): fires and their lag from the queue's `scheduleFired` event, and
 * the number of enabled schedules read at scrape time. Only the process whose scheduler fired a tick
 * sees its event, so a fleet's fires are the sum over its workers (each tick is fired by exactly one).
 *
 * A schedule's name is chosen by whoever may write schedules, like a queue's name by whoever may
 * enqueue: the table bounds them, but nothing bounds the table. So the `schedule` label is capped
 * the way queue labels are (BoundedLabels): the first `maxScheduleLabels` names seen keep their own
 * series for the life of the process, later ones count under `(other)`, which no schedule can be
 * named. Names are not known in advance (the schedules file is read by whichever process reconciles
 * it), so no name is reserved.
 */
import client from 'prom-client';
import { cached } from '../lib/cached.ts';
import type { Queue } from '../queue/index.ts';
import { BoundedLabels } from './labels.ts';

/** Seconds from a tick to its fire: 1 ms (on time) to 10 min (a catch-up fire after an outage). */
export const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export function scheduleMetrics(queue: Queue, registers: client.Registry[], maxLabels: number, cacheMs: number): void {
  const names = new BoundedLabels([], maxLabels);
  const fires = new client.Counter({
    name: 'jobq_schedule_fires_total',
    help: 'Schedule ticks this process fired (each made one job); a fleet fires each tick once, on one worker.',
    labelNames: ['schedule'],
    registers,
  });
  const lag = new client.Histogram({
    name: 'jobq_schedule_lag_seconds',
    help: 'Seconds from a tick\'s time to its fire (catch-up fires after an outage included).',
    buckets: LAG_BUCKETS,
    registers,
  });
  queue.events.on('scheduleFired', ({ schedule, lagMs }) => {
    fires.inc({ schedule: names.of(schedule) });
    lag.observe(Math.max(0, lagMs) / 1000);
  });
  // Read at scrape time like the table's job counts: one count of jobq.schedules, cached.
  const counts = cached(() => queue.schedules.count(), cacheMs);
  new client.Gauge({
    name: 'jobq_schedules',
    help: 'Enabled schedules, read at scrape time.',
    registers,
    async collect() {
      const c = await counts().catch(() => undefined);
      if (c) this.set(c.enabled); // database unreachable: keep the last value rather than fail the scrape
    },
  });
}
