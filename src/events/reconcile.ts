/**
 * Reconciliation: a waiter must never hang on an event this process did not hear (its LISTEN
 * connection was lost, the publisher had not yet learnt of this listener, a notification was dropped).
 * For every job some subscription watches by id, the hub remembers the last status it knows (from an
 * event, or from a read); every few seconds, and at once after a gap, one watchedStates query reads
 * them all, and a status (or attempt) that differs from the known one becomes the event it stands
 * for (event.ts eventTypeFor), made up here and sent to the subscriptions watching that job.
 */
import type { Logger } from 'pino';
import { watchedStates } from '../queue/statements/events.ts';
import type { Queryable } from '../queue/types.ts';
import type { JobStatus } from '../statuses.ts';
import { eventTypeFor, type JobState } from './event.ts';

/** Ids per watchedStates query: one query for all of them up to this many. */
const IDS_PER_QUERY = 10_000;

export interface ReconcilerOptions {
  db: Queryable;
  logger: Logger;
  /** The ids watched now. */
  watched: () => Iterable<string>;
  isWatched: (id: string) => boolean;
  /** Sends a made-up event to the subscriptions watching its job. */
  deliver: (state: JobState & { type: ReturnType<typeof eventTypeFor> }) => void;
}

interface Known {
  status: JobStatus;
  attempt: number;
  /** Which note this is: a read started before it cannot overrule it. */
  version: number;
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #known = new Map<string, Known>();
  #version = 0;
  #running: Promise<number> | undefined;
  #again = false;

  constructor(o: ReconcilerOptions) {
    this.#o = o;
  }

  /** What this process now knows of a watched job (an event it heard, or a state it read). */
  note(id: string, status: JobStatus, attempt: number): void {
    if (this.#o.isWatched(id)) this.#known.set(id, { status, attempt, version: ++this.#version });
  }

  /** Jobs nobody watches any more. */
  forget(ids: readonly string[]): void {
    for (const id of ids) this.#known.delete(id);
  }

  clear(): void {
    this.#known.clear();
  }

  /** How many watched jobs have a known state. */
  get known(): number {
    return this.#known.size;
  }

  /**
   * Reads the watched jobs and sends an event for each status change not heard of; resolves to how
   * many were sent. A call while one runs runs again after it (what it must see may be newer).
   */
  run(): Promise<number> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      let sent = 0;
      do {
        this.#again = false;
        sent += await this.#once();
      } while (this.#again);
      return sent;
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #once(): Promise<number> {
    const ids = [...this.#o.watched()];
    if (ids.length === 0) return 0;
    const since = this.#version;
    let sent = 0;
    for (let from = 0; from < ids.length; from += IDS_PER_QUERY) {
      let rows: Awaited<ReturnType<typeof watchedStates>>;
      try {
        rows = await watchedStates(this.#o.db, { ids: ids.slice(from, from + IDS_PER_QUERY) });
      } catch (err) {
        this.#o.logger.warn({ err: (err as Error).message }, 'could not read the states of watched jobs; trying again later');
        return sent;
      }
      for (const row of rows) {
        const known = this.#known.get(row.id);
        // Unwatched meanwhile, or an event (or a read) newer than this one arrived while it ran.
        if (!this.#o.isWatched(row.id) || (known !== undefined && known.version > since)) continue;
        this.#known.set(row.id, { status: row.status, attempt: row.attempts, version: ++this.#version });
        if (known === undefined || (known.status === row.status && known.attempt === row.attempts)) continue;
        const state: JobState = {
          id: row.id, status: row.status, queue: row.queue, kind: row.kind, group: row.group_key, attempt: row.attempts, at: row.updated_at.toISOString(),
        };
        this.#o.deliver({ ...state, type: eventTypeFor(row.status, known.status) });
        sent++;
      }
    }
    return sent;
  }
}
