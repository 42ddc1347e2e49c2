/**
 * The worker's scheduler (docs/schedules.md): fires schedules' ticks as they come due. Every worker
 * runs one; which one fires a tick does not matter (`Queue.schedules.fireDue` fires each exactly once).
 * Between ticks it sleeps until the soonest one, by the database's clock, so a fleet with nothing due
 * reads nothing; a schedule saved or deleted anywhere wakes it (SCHEDULES_CHANNEL), since its next
 * tick may now come sooner.
 */
import type { Logger } from 'pino';
import { Wakeup } from '../lib/wakeup.ts';
import type { Queue } from '../queue/index.ts';
import { errText } from './log.ts';

export interface SchedulerOptions {
  queue: Queue;
  logger: Logger;
  /** The longest sleep between two reads (a missed notification costs at most this). Default 60 s. */
  maxSleepMs?: number;
}

const MAX_SLEEP_MS = 60_000;
const ERROR_DELAY_MS = { first: 250, max: 10_000 };

export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #wakeup = new Wakeup();
  #stopping = false;
  #done: Promise<void> = Promise.resolve();

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#done = this.#loop();
  }

  /** Read again now: a schedule changed, or notifications may have been missed. */
  wake(): void {
    this.#wakeup.wake();
  }

  /** Resolves once a fire in flight has finished; nothing fires after. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeup.wake();
    await this.#done;
  }

  async #loop(): Promise<void> {
    const { queue, logger } = this.#o;
    const maxSleep = this.#o.maxSleepMs ?? MAX_SLEEP_MS;
    let errorDelay = 0;
    while (!this.#stopping) {
      let sleep: number;
      try {
        const { fired, nextInMs } = await queue.schedules.fireDue();
        for (const f of fired) {
          logger.info({ schedule: f.schedule, tick: f.tick.toISOString(), job_id: f.jobId, lag_ms: f.lagMs, catch_up: f.catchUp }, 'schedule fired');
        }
        errorDelay = 0;
        sleep = nextInMs === null ? maxSleep : Math.min(Math.max(nextInMs, 0), maxSleep);
      } catch (err) {
        errorDelay = Math.min(errorDelay === 0 ? ERROR_DELAY_MS.first : errorDelay * 2, ERROR_DELAY_MS.max);
        logger.warn({ err: errText(err), retry_ms: errorDelay }, 'firing schedules failed');
        sleep = errorDelay;
      }
      if (!this.#stopping) await this.#wakeup.sleep(sleep);
    }
  }
}
