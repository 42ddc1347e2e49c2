/**
 * `Queue.schedules`: recurring jobs' part of the façade (docs/schedules.md). Each operation lives in
 * schedules.ts (saving, reading, reconciling) or schedule-fire.ts (firing), each statement in
 * statements/schedules.ts.
 */
import type { KindRegistry } from '../kinds/registry.ts';
import { type QueueContext, withDb } from './context.ts';
import { fireDueSchedules } from './schedule-fire.ts';
import * as ops from './schedules.ts';
import type { EnqueueResult, NewJob, Schedule, ScheduleDefinition, ScheduleFire, SchedulePage, ScheduleReconciled, ScheduleSaved, WriteOptions } from './types.ts';

export class QueueSchedules {
  readonly #ctx: QueueContext;
  readonly #kinds: KindRegistry;
  readonly #enqueue: (job: NewJob, opts: WriteOptions) => Promise<EnqueueResult>;

  constructor(ctx: QueueContext, kinds: KindRegistry, enqueue: (job: NewJob, opts: WriteOptions) => Promise<EnqueueResult>) {
    this.#ctx = ctx;
    this.#kinds = kinds;
    this.#enqueue = enqueue;
  }

  /**
   * Creates or replaces schedule `def.name` (checked whole: validation_failed names each bad field).
   * An edit of the job takes effect at the next tick; a new timing, or enabling, plans the next tick
   * after now. `changed` is false when it was saved already exactly so.
   */
  set(def: ScheduleDefinition, opts: WriteOptions = {}): Promise<ScheduleSaved> {
    return ops.setSchedule(this.#ctx, this.#kinds, def, withDb(this.#ctx, opts));
  }

  get(name: string, opts: WriteOptions = {}): Promise<Schedule | null> {
    return ops.getSchedule(this.#ctx, name, withDb(this.#ctx, opts));
  }

  /** By name, `limit` per page (1..1000, default 100); pass `nextAfter` as `after`. */
  list(page: { after?: string; limit?: number } = {}, opts: WriteOptions = {}): Promise<SchedulePage> {
    return ops.listSchedules(this.#ctx, page, withDb(this.#ctx, opts));
  }

  /** How many schedules there are, and how many are enabled (the `jobq_schedules` gauge). */
  count(opts: WriteOptions = {}): Promise<{ total: number; enabled: number }> {
    return ops.countSchedules(this.#ctx, withDb(this.#ctx, opts));
  }

  /** Deletes a schedule (the jobs it made stay); false when there was none. */
  delete(name: string, opts: WriteOptions = {}): Promise<boolean> {
    return ops.deleteSchedule(this.#ctx, name, withDb(this.#ctx, opts));
  }

  /** Enqueues schedule `name`'s job now (not_found if none); its ticks stay as they were. */
  trigger(name: string, opts: WriteOptions = {}): Promise<EnqueueResult> {
    return ops.triggerSchedule(this.#ctx, name, this.#enqueue, withDb(this.#ctx, opts));
  }

  /** Makes the schedules owned by a file exactly `defs` (added, changed, removed), in one transaction. */
  reconcile(defs: ScheduleDefinition[]): Promise<ScheduleReconciled> {
    return ops.reconcileSchedules(this.#ctx, this.#kinds, defs);
  }

  /**
   * Fires the ticks that are due, each exactly once across every process calling it; says how long
   * until the next tick (by the database's clock; null: none planned). Workers call it (scheduler.ts).
   */
  fireDue(opts: { limit?: number } = {}): Promise<{ fired: ScheduleFire[]; nextInMs: number | null }> {
    return fireDueSchedules(this.#ctx, this.#kinds, opts);
  }
}
