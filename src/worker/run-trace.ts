/**
 * A worker's runs as spans (src/tracing.ts): the span starts when the job's slot starts it, its
 * handler runs inside it, a failure sets its status, and it ends once the outcome is written, with the
 * outcome's name. The span of a claim is kept here by its ClaimedJob (each claim has its own object).
 * Without an OpenTelemetry SDK nothing is kept: `startRun` returns undefined and `finishRun` returns
 * at its first check.
 */
import type { JobHandler } from '../kinds/registry.ts';
import type { ClaimedJob } from '../queue/types.ts';
import { endRunSpan, failRunSpan, inRunSpan, type RunSpan, startRunSpan } from '../tracing.ts';
import type { FinishOutcome } from './events.ts';
import { JobCancelledError, type Settled, WorkerShutdownError } from './execute.ts';

const runs = new WeakMap<ClaimedJob, RunSpan>();
/** Spans started and not ended: while none are, `finishRun` looks nothing up. */
let open = 0;

/** Starts the span of `job`'s run; undefined when tracing is off. */
export function startRun(job: ClaimedJob): RunSpan | undefined {
  const run = startRunSpan(job);
  if (run === undefined) return undefined;
  runs.set(job, run);
  open++;
  return run;
}

/** `handler`, called with the run's span active (only the call: what the worker does after it settles is not the job's). */
export function inRun(run: RunSpan, handler: JobHandler): JobHandler {
  return (payload, ctx) => inRunSpan(run, () => handler(payload, ctx));
}

/**
 * The handler settled. A failure (a throw, a rejection, a timeout, a lost lease) makes the span's
 * status ERROR; an abort that was asked for (a cancel request, the worker stopping) does not.
 */
export function runSettled(run: RunSpan, s: Settled): void {
  if (s.ok || s.reason instanceof JobCancelledError || s.reason instanceof WorkerShutdownError) return;
  failRunSpan(run, s.error);
}

/** The outcome of `job`'s claim is written (or given up): ends its span, if it has one. */
export function finishRun(job: ClaimedJob, outcome: FinishOutcome): void {
  if (open === 0) return;
  const run = runs.get(job);
  if (run === undefined) return;
  runs.delete(job);
  open--;
  // The run's result was not recorded (the claim is no longer this worker's): another run will come.
  if (outcome === 'lost' && !run.failed) failRunSpan(run, new Error('the outcome was not recorded: this worker no longer holds the job'));
  endRunSpan(run, outcome);
}
