/**
 * The OpenTelemetry SDK as a user registers it, for the tracing tests: a tracer provider whose spans go
 * to an in-memory exporter, the AsyncLocalStorage context manager and the W3C trace-context
 * propagator, all global (so each test file that calls registerSdk is a process of its own: the runner
 * runs every file in its own). Imports nothing of jobq, so that a file can register the SDK, and
 * instrumentation, before jobq and `pg` are loaded.
 */
import { context, propagation, type SpanContext, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

export const exporter = new InMemorySpanExporter();

export function registerSdk(): BasicTracerProvider {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return provider;
}

/** A caller's W3C traceparent header: version 00, sampled. */
export const traceparent = (traceId: string, spanId: string) => `00-${traceId}-${spanId}-01`;

/** Random ids as a caller makes them. */
export const newTraceId = () => randomHex(16);
export const newSpanId = () => randomHex(8);

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The finished spans of one trace. */
export function spansOf(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

/** The finished run (CONSUMER) spans of a job, by attempt. */
export function runSpansOf(jobId: string): ReadableSpan[] {
  return exporter
    .getFinishedSpans()
    .filter((s) => s.name.startsWith('process ') && s.attributes['jobq.job.id'] === jobId)
    .sort((a, b) => Number(a.attributes['jobq.job.attempt']) - Number(b.attributes['jobq.job.attempt']));
}

/** `span`'s parent and links, as ids (for deepEqual). */
export function relations(span: ReadableSpan): { parent: string | undefined; links: string[] } {
  const id = (c: SpanContext | undefined) => (c ? `${c.traceId}/${c.spanId}` : undefined);
  return { parent: id(span.parentSpanContext), links: span.links.map((l) => id(l.context)!) };
}

export const ids = (span: ReadableSpan) => `${span.spanContext().traceId}/${span.spanContext().spanId}`;
