/**
 * A worker's side of flow control (the design is in docs/flow-control.md). The worker keeps a view of the
 * queues it must claim through `Queue.claimLimited`: those with a policy and those whose waiting jobs
 * carry a group. The view is read again at every poll tick and whenever a policy changes (a
 * QUEUES_CHANNEL notification), so a new policy binds this worker within one poll interval, at once
 * when the notification arrives; buffered jobs of a queue that just got a policy are given back
 * unstarted. The ordinary claim leaves the queues with a policy out (`exclude`).
 *
 * Each of those queues is claimed when something may have changed for it ("pending"): a notification
 * for it, the poll tick, an outcome of one of its jobs written by this worker (a concurrency or group
 * slot may be free), or, after a rate limit held it back, the moment its window has room again
 * (`wakeAt`, from the database's answer). A queue that gave all it was offered stays pending.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FlowQueue, Queue, QueueThrottle } from '../queue/index.ts';
import type { ClaimedJob } from '../queue/types.ts';
import type { WorkerEvents } from './events.ts';
import { errText } from './log.ts';

export interface FlowOptions {
  queue: Queue;
  logger: Logger;
  workerId: string;
  /** The queues this worker serves; empty: all. */
  queues: string[];
  /** The kinds it has handlers for. */
  kinds: string[];
  pollIntervalMs: number;
  events: EventEmitter<WorkerEvents>;
  /** Gives back the buffered jobs of these queues (they just got a policy). */
  release: (queues: Set<string>) => void;
}

interface Controlled extends FlowQueue {
  pending: boolean;
  /** Counts the signals that made it pending: one that arrives while a claim is in flight outlives that claim's answer. */
  signals: number;
  /** Not before this time (Date.now()): a rate window's next room. */
  wakeAt: number;
}

export class Flow {
  readonly #o: FlowOptions;
  #controlled = new Map<string, Controlled>();
  #exclude: string[] = [];
  #stale = true;
  #retryAt = 0;
  /** Where the next claim starts in the list of queues, so that each is offered room first in turn. */
  #turn = 0;

  constructor(options: FlowOptions) {
    this.#o = options;
  }

  /** Queues the ordinary claim leaves out: this worker's queues with a policy. */
  get exclude(): string[] {
    return this.#exclude;
  }

  /** Read the view again before the next claim (a poll tick, a policy notification, a reconnect). */
  invalidate(): void {
    this.#stale = true;
  }

  /** The poll tick: read the view again, and look at every queue of it. */
  tick(): void {
    this.#stale = true;
    for (const c of this.#controlled.values()) this.#signal(c);
  }

  #signal(c: Controlled): void {
    c.pending = true;
    c.signals++;
  }

  /**
   * A JOBS_CHANNEL notification for a queue this worker serves. True when its new jobs are this
   * module's to claim (they carry a group, or the queue has a policy); a grouped queue not in the view
   * yet makes it read again.
   */
  notified(queue: string, grouped: boolean): boolean {
    const c = this.#controlled.get(queue);
    if (c) this.#signal(c);
    else if (grouped) this.#stale = true;
    return grouped || c?.policy != null;
  }

  /** This worker wrote the outcome of a job of `queue`: a slot of its policy may be free. */
  finished(queue: string): boolean {
    const c = this.#controlled.get(queue);
    if (!c) return false;
    this.#signal(c);
    return true;
  }

  /** Some queue may give jobs now. */
  due(): boolean {
    if (this.#controlled.size === 0) return false; // the common case, asked at every slot that frees
    const now = Date.now();
    for (const c of this.#controlled.values()) if (c.pending && c.wakeAt <= now) return true;
    return false;
  }

  /** The earliest rate window after `now` to wait for (Date.now() time), or Infinity. */
  nextWakeAt(now: number): number {
    let at = Infinity;
    for (const c of this.#controlled.values()) if (c.pending && c.wakeAt > now && c.wakeAt < at) at = c.wakeAt;
    return at;
  }

  /** Reads the view if it is stale (a failure keeps the old one, and is tried again after a while). */
  async refresh(): Promise<void> {
    if (!this.#stale || Date.now() < this.#retryAt) return;
    let rows: FlowQueue[];
    try {
      rows = await this.#o.queue.flowQueues();
    } catch (err) {
      this.#retryAt = Date.now() + Math.min(this.#o.pollIntervalMs, 1_000);
      this.#o.logger.warn({ err: errText(err) }, 'could not read the queue policies; keeping the last ones');
      return;
    }
    this.#stale = false;
    const served = this.#o.queues;
    const next = new Map<string, Controlled>();
    for (const row of rows) {
      if (served.length > 0 && !served.includes(row.name)) continue;
      const old = this.#controlled.get(row.name);
      next.set(row.name, { ...row, pending: old?.pending ?? true, signals: old?.signals ?? 0, wakeAt: old?.wakeAt ?? 0 });
    }
    const before = new Set(this.#exclude);
    this.#controlled = next;
    this.#exclude = [...next.values()].filter((c) => c.policy !== null).map((c) => c.name);
    const limitedNow = new Set(this.#exclude.filter((q) => !before.has(q)));
    if (limitedNow.size > 0) this.#o.release(limitedNow);
  }

  /**
   * Claims up to `room` jobs from the pending queues (each offered the room in turn) and applies what
   * the database says about each: empty or held back (not pending until something changes), a rate
   * window (pending again at its next room). Every job returned has started.
   */
  async claim(room: number): Promise<ClaimedJob[]> {
    const now = Date.now();
    const due = [...this.#controlled.values()].filter((c) => c.pending && c.wakeAt <= now);
    if (due.length === 0 || room <= 0) return [];
    const start = this.#turn++ % due.length;
    const queues = [...due.slice(start), ...due.slice(0, start)].map((c) => c.name);
    const sent = new Map(due.map((c) => [c.name, c.signals]));
    const { jobs, throttles } = await this.#o.queue.claimLimited(this.#o.workerId, { queues, limit: room, kinds: this.#o.kinds });
    for (const t of throttles) this.#apply(t, sent.get(t.queue));
    return jobs;
  }

  /** What a claim found about a queue; a signal that came while the claim was on its way keeps the queue pending. */
  #apply(t: QueueThrottle, signalsWhenSent: number | undefined): void {
    const c = this.#controlled.get(t.queue);
    if (!c) return;
    c.pending = (t.state === 'rate' && t.waitMs !== null) || c.signals !== signalsWhenSent;
    c.wakeAt = t.state === 'rate' && t.waitMs !== null ? Date.now() + Math.ceil(t.waitMs) : 0;
    if (t.state !== 'empty' && t.held > 0 && this.#o.events.listenerCount('throttled') > 0) {
      this.#o.events.emit('throttled', { queue: t.queue, reason: t.state, jobs: t.held });
    }
  }
}
