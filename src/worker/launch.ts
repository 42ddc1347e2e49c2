/**
 * Starting one claimed job in a slot: its handler under an abort signal and timeout (execute.ts), with
 * its context, the `job:start` event and log line, and, for a job that waited in the buffer, the
 * record that it has started (so that losing the worker now counts its attempt).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { EventEmitter } from 'node:events';
import { Coalescer } from '../lib/coalescer.ts';
import type { Queue } from '../queue/index.ts';
import type { ClaimedJob, ParentJob } from '../queue/types.ts';
import { JobContext } from './context.ts';
import type { WorkerEvents } from './events.ts';
import { execute, JobAbort, type Settled } from './execute.ts';
import type { Heartbeat, Running } from './heartbeat.ts';
import { errText, logFields } from './log.ts';

export interface LauncherOptions {
  queue: Queue;
  workerId: string;
  logger: Logger;
  timeoutGraceMs: number;
  events: EventEmitter<WorkerEvents>;
  heartbeat: Heartbeat;
}

export class Launcher {
  readonly #o: LauncherOptions;
  /** Buffered jobs start in claim order, so one number says which have started: the last one's. */
  readonly #starter: Coalescer<number, void>;
  /** What a handler's ctx.parents() reads with. */
  readonly #parents: (id: string) => Promise<ParentJob[]>;

  constructor(options: LauncherOptions) {
    this.#o = options;
    this.#parents = (id) => options.queue.parents(id);
    this.#starter = new Coalescer<number, void>(async (seqs) => {
      await options.queue.markStartedThrough(options.workerId, Math.max(...seqs));
      return seqs.map(() => undefined);
    }, 1);
  }

  /**
   * Runs `job`'s handler; `onSettled` gets what it did and when it started. Returns the running slot,
   * or undefined when the handler returned without a promise (done already: it never held a slot).
   */
  launch(job: ClaimedJob, onSettled: (s: Settled, started: number) => void): Running | undefined {
    const { queue, logger: log, events } = this.#o;
    const kind = queue.kinds.get(job.kind)!;
    const abort = new JobAbort();
    const started = performance.now();
    if (events.listenerCount('job:start') > 0) events.emit('job:start', { job, waitMs: Math.max(0, Date.now() - job.runAt.getTime()) });
    if (log.isLevelEnabled('info')) log.info(logFields(job), 'job started');
    if (job.startedAt === null) this.#starter.add(job.claimSeq).catch((err) => log.debug({ ...logFields(job), err: errText(err) }, 'could not mark the job started'));
    const out = execute({
      handler: kind.handler,
      payload: job.payload,
      abort,
      timeoutMs: job.timeoutMs ?? kind.timeoutMs,
      graceMs: this.#o.timeoutGraceMs,
      ctx: new JobContext(job, abort, log, this.#o.heartbeat, this.#parents),
    });
    if (out instanceof Promise) return { job, abort, settled: out.then((s) => onSettled(s, started)) };
    onSettled(out, started);
    return undefined;
  }
}
