/**
 * What a worker hears on its LISTEN connection (src/db/listener.ts), told apart by channel: new jobs of a
 * queue it works, a cancel request, a queue policy changed, a schedule changed; and every (re)connect,
 * after which the worker should look for itself (notifications sent while it was away are gone). A
 * listener of job events registering (LISTENERS_CHANNEL) turns the queue's publisher on at once; a
 * (re)connect makes it look again at its next event.
 */
import type { Logger } from 'pino';
import { channels, parseJobsPayload, type Queue } from '../queue/index.ts';
import { Listener } from '../db/listener.ts';

export interface WorkerNotifications {
  /** Jobs became runnable in `queue` (one of the worker's queues); `grouped` when they carry a group. */
  jobs(queue: string, grouped: boolean): void;
  cancel(jobId: string): void;
  policyChanged(): void;
  scheduleChanged(): void;
  connected(reconnected: boolean): void;
  /** The listen URL leads through a pooler: nothing will be heard; poll instead. */
  pooled(): void;
}

export function listenForWork(o: { databaseUrl: string; listenUrl?: string; logger: Logger; queues: string[]; queue: Pick<Queue, 'publisher' | 'schema'> }, on: WorkerNotifications): Listener {
  // The queue's schema's channels (another installation in the same database has its own).
  const { jobs: JOBS_CHANNEL, cancel: CANCEL_CHANNEL, queues: QUEUES_CHANNEL, schedules: SCHEDULES_CHANNEL, listeners: LISTENERS_CHANNEL } = channels(o.queue.schema);
  return new Listener({
    url: o.listenUrl ?? o.databaseUrl,
    onPooled: () => on.pooled(),
    channels: [JOBS_CHANNEL, CANCEL_CHANNEL, QUEUES_CHANNEL, SCHEDULES_CHANNEL, LISTENERS_CHANNEL],
    logger: o.logger,
    onConnect: (reconnected) => {
      o.queue.publisher.recheck();
      on.connected(reconnected);
    },
    onNotify: (channel, payload) => {
      if (channel === LISTENERS_CHANNEL) return o.queue.publisher.onListenersChanged();
      if (channel === CANCEL_CHANNEL) return on.cancel(payload);
      if (channel === SCHEDULES_CHANNEL) return on.scheduleChanged();
      if (channel === QUEUES_CHANNEL) return on.policyChanged();
      const { queue, grouped } = parseJobsPayload(payload);
      if (o.queues.length === 0 || o.queues.includes(queue)) on.jobs(queue, grouped);
    },
  });
}
