/**
 * The fleet-wide sweeper each worker runs on a timer: `Queue.sweep` (one process at a time, under an
 * advisory lock) recovers jobs whose worker was lost and deletes finished jobs past their retention.
 */
import type { Logger } from 'pino';
import type { Queue } from '../queue/queue.ts';
import { DEFAULT_RETENTION, type Retention } from '../queue/retention.ts';
import { errText } from './log.ts';

export interface SweeperOptions {
  queue: Queue;
  logger: Logger;
  leaseMs: number;
  heartbeatMs: number;
  /** Default DEFAULT_RETENTION. */
  retention?: Retention;
  onRecovered: (count: number) => void;
}

export class Sweeper {
  readonly #o: SweeperOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SweeperOptions) {
    this.#o = options;
  }

  /** Sweeps at least once a heartbeat and four times a lease, so a lost worker's jobs wait little. */
  start(): void {
    const every = Math.min(this.#o.heartbeatMs, Math.floor(this.#o.leaseMs / 4));
    this.#timer = setInterval(() => void this.#sweep(), every);
  }

  /** No sweep starts after this (one in flight finishes). */
  stop(): void {
    clearInterval(this.#timer);
  }

  async #sweep(): Promise<void> {
    const { logger } = this.#o;
    try {
      const swept = await this.#o.queue.sweep(this.#o.leaseMs, this.#o.retention ?? DEFAULT_RETENTION);
      if (swept?.recovered) {
        logger.warn({ count: swept.recovered }, 'recovered jobs whose worker was lost');
        this.#o.onRecovered(swept.recovered);
      }
      if (swept?.pruned) logger.debug({ count: swept.pruned }, 'pruned finished jobs past their retention');
    } catch (err) {
      logger.warn({ err: errText(err) }, 'sweep failed');
    }
  }
}
