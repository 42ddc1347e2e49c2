/**
 * OpenTelemetry for jobq, and the only module that imports @opentelemetry/api: the SDK, its exporter
 * and its propagator are the user's choice (README, "Tracing"). Without a registered SDK every
 * function here is a check and a return: no span, no carrier, no allocation.
 *
 * - `captureContext`: the active trace context as a carrier (W3C `traceparent`/`tracestate` with the
 *   default propagator), stored with each job the queue enqueues (jobs.trace_context).
 * - `traceEnqueue`: the API's enqueue as a PRODUCER span, a child of the caller's context.
 * - `startRunSpan` and the rest: a worker's run of a job as a CONSUMER span whose parent is the stored
 *   context (the trace goes on across the queue) and which links to it; the handler runs inside it.
 *
 * Attributes follow the messaging semantic conventions (messaging.system "jobq", the queue as
 * messaging.destination.name) plus jobq.job.* (id, kind, queue, attempt, outcome).
 */
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  type Link,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { VERSION } from './version.ts';

/** A trace context as a propagator writes it: header name → value (W3C: traceparent, tracestate). */
export type TraceCarrier = Record<string, string>;

/** Request headers as Node.js gives them (lower-case names). */
export type TraceHeaders = Record<string, string | string[] | undefined>;

export const TRACER_NAME = 'jobq';
export const MESSAGING_SYSTEM = 'jobq';

/** What the global tracer provider delegates to while no SDK registered one. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * jobq's tracer, or undefined while no SDK is registered. Asked each time (a look-up of the global):
 * an SDK registered after jobq was loaded counts from then on.
 */
function tracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  // Registered by another copy of the API, the provider is another class's instance: an SDK is there.
  if (provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_PROVIDER) return undefined;
  return provider.getTracer(TRACER_NAME, VERSION);
}

/** Whether an SDK's tracer provider is registered (spans are made). */
export function tracingEnabled(): boolean {
  return tracer() !== undefined;
}

/**
 * The active context as a carrier to store with a job; null when there is nothing to carry: no
 * active span (always so without an SDK: no object is made then), or a propagator that wrote nothing.
 */
export function captureContext(): TraceCarrier | null {
  const active = context.active();
  if (trace.getSpanContext(active) === undefined) return null;
  const carrier: TraceCarrier = {};
  propagation.inject(active, carrier);
  for (const _ in carrier) return carrier;
  return null;
}

/** A stored carrier (jobs.trace_context) read back: an object of strings, or null for anything else. */
export function asCarrier(value: unknown): TraceCarrier | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  for (const v of Object.values(value)) if (typeof v !== 'string') return null;
  return value as TraceCarrier;
}

/** The jobs of one enqueue, as the producer span describes them. */
export interface EnqueueTarget {
  kind: string;
  queue: string;
}

/**
 * Runs `enqueue` (an API route's call of the queue) inside a PRODUCER span, so that the queue stores
 * that span's context with the jobs. `targets` says what is enqueued and `ids` which jobs the result
 * holds (one: jobq.job.id); both are called only when there is a span.
 *
 * The parent: when a span is active already, that one. It is when the user runs
 * @opentelemetry/instrumentation-http (or -fastify): its server span is the request's, a child of the
 * caller's traceparent, and the enqueue belongs under it; extracting the headers again would make the
 * producer span its sibling. With no active span, the caller's `traceparent`/`tracestate` headers
 * (through the registered propagator); without those either, the span starts a trace.
 */
export function traceEnqueue<T>(headers: TraceHeaders, targets: () => readonly EnqueueTarget[], enqueue: () => Promise<T>, ids: (result: T) => string[]): Promise<T> {
  const t = tracer();
  return t ? producerSpan(t, headers, targets(), enqueue, ids) : enqueue();
}

async function producerSpan<T>(t: Tracer, headers: TraceHeaders, jobs: readonly EnqueueTarget[], enqueue: () => Promise<T>, ids: (result: T) => string[]): Promise<T> {
  const active = context.active();
  const parent = trace.getSpan(active) ? active : propagation.extract(active, headers);
  const queue = common(jobs, (j) => j.queue);
  const kind = common(jobs, (j) => j.kind);
  const attributes: Attributes = {
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'enqueue',
  };
  if (queue !== undefined) {
    attributes['messaging.destination.name'] = queue;
    attributes['jobq.job.queue'] = queue;
  }
  if (kind !== undefined) attributes['jobq.job.kind'] = kind;
  if (jobs.length !== 1) attributes['messaging.batch.message_count'] = jobs.length;
  const span = t.startSpan(queue === undefined ? 'enqueue' : `enqueue ${queue}`, { kind: SpanKind.PRODUCER, attributes }, parent);
  try {
    const result = await context.with(trace.setSpan(parent, span), enqueue);
    const made = ids(result);
    if (made.length === 1) {
      span.setAttribute('jobq.job.id', made[0]!);
      span.setAttribute('messaging.message.id', made[0]!);
    }
    return result;
  } catch (err) {
    fail(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** The value every job has for `of`, or undefined when they differ. */
function common(jobs: readonly EnqueueTarget[], of: (j: EnqueueTarget) => string): string | undefined {
  const first = jobs[0] === undefined ? undefined : of(jobs[0]);
  return jobs.every((j) => of(j) === first) ? first : undefined;
}

/** The job a run span is about (a worker's ClaimedJob is one: nothing is copied when tracing is off). */
export interface RunTarget {
  id: string;
  kind: string;
  queue: string;
  /** This run's attempt (1 for the first). */
  attempts: number;
  /** The context stored with the job at its enqueue (jobs.trace_context). */
  traceContext: TraceCarrier | null;
}

/** A worker's run of one job: its span, and the context its handler runs in. */
export interface RunSpan {
  readonly span: Span;
  readonly context: Context;
  /** The span's status is ERROR already. */
  failed: boolean;
}

/**
 * Starts the CONSUMER span of a run of `job`; undefined without an SDK. Its parent is the context
 * stored with the job (the producer's span, so the run joins the caller's trace), and it carries a
 * link to that context too. A job stored without one starts a trace of its own: never a child of
 * whatever happens to be active in the worker.
 */
export function startRunSpan(job: RunTarget): RunSpan | undefined {
  const t = tracer();
  if (!t) return undefined;
  const parent = job.traceContext === null ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, job.traceContext);
  const stored = trace.getSpanContext(parent);
  const links: Link[] = stored !== undefined && isSpanContextValid(stored) ? [{ context: stored }] : [];
  const span = t.startSpan(`process ${job.queue}`, {
    kind: SpanKind.CONSUMER,
    links,
    attributes: {
      'messaging.system': MESSAGING_SYSTEM,
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': job.queue,
      'messaging.message.id': job.id,
      'jobq.job.id': job.id,
      'jobq.job.kind': job.kind,
      'jobq.job.queue': job.queue,
      'jobq.job.attempt': job.attempts,
    },
  }, parent);
  return { span, context: trace.setSpan(parent, span), failed: false };
}

/** Calls `fn` with the run's span active: the spans it makes (and `pg`'s, when instrumented) nest under it. */
export function inRunSpan<T>(run: RunSpan, fn: () => T): T {
  return context.with(run.context, fn);
}

/** The run failed: status ERROR with the error's message, and the error as an exception event. */
export function failRunSpan(run: RunSpan, error: unknown): void {
  run.failed = true;
  fail(run.span, error);
}

/** Ends the run's span with its outcome (jobq.job.outcome: the worker's FinishOutcome names). */
export function endRunSpan(run: RunSpan, outcome: string): void {
  run.span.setAttribute('jobq.job.outcome', outcome);
  run.span.end();
}

function fail(span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  span.recordException(error instanceof Error ? error : message);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}
