/**
 * GET /v1/jobs/{id}?wait=30s (issue #19): the job once it is succeeded, failed_permanent or cancelled,
 * or as it is when the wait ends. It subscribes to the job's events first and reads it second, so a
 * finish between the two is not missed; the hub's reconciliation turns a finish whose event never
 * came into one within a few seconds. A shutdown answers every wait at once with the job as it is.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { JobqError } from '../errors.ts';
import type { EventHub } from '../events/index.ts';
import { parseDuration } from '../lib/duration.ts';
import { LONG_POLL_MS } from '../limits.ts';
import type { Queue } from '../queue/index.ts';
import type { Job } from '../queue/types.ts';
import { isTerminal, type JobStatus } from '../statuses.ts';
import { NO_HUB } from './sse.ts';

/** `?wait=` in milliseconds: a duration or a number of milliseconds, at most LONG_POLL_MS.max. */
export function parseWait(raw: string): number {
  let ms: number;
  try {
    ms = parseDuration(raw);
  } catch {
    throw new JobqError('validation_failed', `query parameter wait: "${raw.slice(0, 32)}" is not a duration (30s, 1500ms, or milliseconds)`, [
      { path: '/wait', message: 'must be a duration such as 30s or 1500ms, or a number of milliseconds', in: 'query parameter' },
    ]);
  }
  if (ms > LONG_POLL_MS.max) {
    throw new JobqError('validation_failed', `query parameter wait: at most ${LONG_POLL_MS.max / 1000} s`, [
      { path: '/wait', message: `must be at most ${LONG_POLL_MS.max / 1000}s`, in: 'query parameter' },
    ]);
  }
  return ms;
}

export interface LongPolls {
  /** The job when it is final or the wait ends; null when there is no such job. */
  wait(request: FastifyRequest, reply: FastifyReply, id: string, waitMs: number): Promise<Job | null>;
  /** Answers every wait now (shutdown). */
  release(): void;
}

export function longPolls(queue: Queue, hub: EventHub | undefined): LongPolls {
  const releases = new Set<() => void>();
  let closing = false;
  return {
    release: () => {
      closing = true;
      for (const r of releases) r();
    },
    async wait(request, reply, id, waitMs) {
      if (!hub) throw new JobqError('too_many_streams', NO_HUB);
      // Woken by a final event (then the job is read again), or for good by the end of the wait, the
      // client going away, or a shutdown.
      let over = false;
      let pending = false;
      let wake: () => void = () => {};
      const poke = () => {
        pending = true;
        wake();
      };
      const end = () => {
        over = true;
        poke();
      };
      const sub = hub.subscribe({ id: [id] }, { event: (e) => isTerminal(e.data.status as JobStatus) && poke(), reset: () => {} });
      releases.add(end);
      const timer = setTimeout(end, waitMs);
      reply.raw.once('close', end);
      keepSocketFor(request, reply, waitMs);
      try {
        await sub.ready;
        let job = await queue.get(id);
        if (!job || isTerminal(job.status)) return job;
        hub.note(id, job.status, job.attempts);
        while (!over) {
          if (!pending) await new Promise<void>((resolve) => (wake = resolve));
          pending = false;
          if (reply.raw.destroyed) return job;
          job = (await queue.get(id)) ?? job;
          if (isTerminal(job.status)) return job;
        }
        return job;
      } finally {
        // A wait answered by a shutdown: its connection would otherwise stay open, holding up the close.
        if (closing) reply.header('connection', 'close');
        clearTimeout(timer);
        releases.delete(end);
        reply.raw.off('close', end);
        sub.close();
      }
    },
  };
}

/**
 * A wait is silence on the socket: its idle timeout (--idle-timeout-ms) must not cut it. Lengthened
 * for this request only; back to what it was once the answer is sent.
 */
function keepSocketFor(request: FastifyRequest, reply: FastifyReply, waitMs: number): void {
  const socket = request.raw.socket;
  const before = socket.timeout ?? 0;
  const needed = waitMs + 10_000;
  if (before === 0 || before >= needed) return;
  socket.setTimeout(needed);
  reply.raw.once('finish', () => socket.setTimeout(before));
}
