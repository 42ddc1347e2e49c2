/**
 * Starting one claimed job in a slot: its handler under an abort signal and timeout (execute.ts), with
 * its context, the `job:start` event and log line, and, for a job that waited in the buffer, its
 * `started` event and the record that it has started (so that losing the worker now counts its
 * attempt), and, when an OpenTelemetry SDK is registered, the span of the run (run-trace.ts). Its
 * context writes the handler's progress reports through `writeProgress`.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { EventEmitter } from 'node:events';
import { Coalescer } from '../lib/coalescer.ts';
import type { Queue } from '../queue/index.ts';
import type { JobProgress } from '../queue/events/types.ts';
import type { ClaimedJob, ParentJob } from '../queue/types.ts';
import { JobContext, type ProgressWriter } from './context.ts';
import type { WorkerEvents } from './events.ts';
import { execute, JobAbort, type Settled } from './execute.ts';
import type { Heartbeat, Running } from './heartbeat.ts';
import { errText, logFields } from './log.ts';
import { inRun, runSettled, startRun } from './run-trace.ts';

export interface LauncherOptions {
  queue: Queue;
  workerId: string;
  logger: Logger;
  timeoutGraceMs: number;
  events: EventEmitter<WorkerEvents>;
  heartbeat: Heartbeat;
}

export class Launcher implements ProgressWriter {
  readonly #o: LauncherOptions;
  /** Buffered jobs start in claim order, so one number per store says which have started: the last one's. */
  readonly #starter: Coalescer<number, void>;
  /** What a handler's ctx.parents() reads with. */
  readonly #parents: (id: string) => Promise<ParentJob[]>;

  constructor(options: LauncherOptions) {
    this.#o = options;
    this.#parents = (id) => options.queue.parents(id);
    this.#starter = new Coalescer<number, void>(async (seqs) => {
      // The log store's claims are negative, the later ones further from 0 (QueueOptions.logStore).
      const rows = seqs.filter((s) => s > 0);
      const logged = seqs.filter((s) => s < 0);
      if (rows.length > 0) await options.queue.markStartedThrough(options.workerId, Math.max(...rows));
      if (logged.length > 0) await options.queue.markStartedThrough(options.workerId, Math.min(...logged));
      return seqs.map(() => undefined);
    }, 1);
  }

  /**
   * Runs `job`'s handler; `onSettled` gets what it did, when it started, and, when a progress report
   * of it was still to be written, that write (flushed now: the outcome waits for it). Returns the
   * running slot, or undefined when the handler returned without a promise (done already: it never
   * held a slot).
   */
  launch(job: ClaimedJob, onSettled: (s: Settled, started: number, progressWrite: Promise<void> | undefined) => void): Running | undefined {
    const { queue, logger: log, events } = this.#o;
    const kind = queue.kinds.get(job.kind)!;
    const abort = new JobAbort();
    const started = performance.now();
    if (events.listenerCount('job:start') > 0) events.emit('job:start', { job, waitMs: Math.max(0, Date.now() - job.runAt.getTime()) });
    if (log.isLevelEnabled('info')) log.info(logFields(job), 'job started');
    if (job.startedAt === null) {
      job.launchedAtMs = Date.now();
      queue.jobStarted(job);
      this.#starter.add(job.claimSeq).catch((err) => log.debug({ ...logFields(job), err: errText(err) }, 'could not mark the job started'));
    }
    const ctx = new JobContext(job, abort, log, this.#o.heartbeat, this, this.#parents);
    const run = startRun(job);
    const out = execute({
      handler: run ? inRun(run, kind.handler) : kind.handler,
      payload: job.payload,
      abort,
      timeoutMs: job.timeoutMs ?? kind.timeoutMs,
      graceMs: this.#o.timeoutGraceMs,
      ctx,
    });
    if (out instanceof Promise) {
      return {
        job,
        abort,
        settled: out.then((s) => {
          if (run) runSettled(run, s);
          onSettled(s, started, ctx.flushProgress());
        }),
      };
    }
    if (run) runSettled(run, out);
    onSettled(out, started, ctx.flushProgress());
    return undefined;
  }

  /** Stores a progress report under the job's claim; a claim lost meanwhile changes nothing. Never rejects. */
  async writeProgress(job: ClaimedJob, progress: JobProgress): Promise<void> {
    const { queue, workerId, logger } = this.#o;
    const value = progress.total === undefined ? progress.value : { current: progress.current!, total: progress.total };
    try {
      const stored = await queue.progress(job.id, value, { workerId, claimSeq: job.claimSeq, message: progress.message });
      if (!stored) logger.debug(logFields(job), 'progress not stored: the job is no longer held by this claim');
    } catch (err) {
      logger.warn({ ...logFields(job), err: errText(err) }, 'could not store the job\'s progress');
    }
  }
}
