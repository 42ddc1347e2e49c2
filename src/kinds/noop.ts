/**
 * `noop`: does nothing, optionally after sleeping `sleep_ms`. Used by benchmarks, smoke tests and to
 * exercise cancellation and timeouts. With sleep_ms 0 it returns without creating a timer.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { HandlerContext, KindDefinition } from './registry.ts';

export const NoopPayload = Type.Object(
  {
    sleep_ms: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 86_400_000, description: 'How long to sleep, in milliseconds. Default 0.' }),
    ),
  },
  { additionalProperties: false },
);
export type NoopPayload = Static<typeof NoopPayload>;

async function noopHandler(payload: NoopPayload, ctx: HandlerContext): Promise<{ slept_ms: number }> {
  const ms = payload.sleep_ms ?? 0;
  const { signal } = ctx;
  if (signal.aborted) throw signal.reason;
  if (ms === 0) return { slept_ms: 0 };
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve({ slept_ms: ms });
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export const noopKind: KindDefinition<typeof NoopPayload> = {
  name: 'noop',
  description: 'Does nothing, optionally sleeping sleep_ms first; for benchmarks and tests.',
  payloadSchema: NoopPayload,
  defaultMaxAttempts: 3,
  // 24 h plus a minute, so that the longest allowed sleep finishes before the timeout.
  timeoutMs: 86_400_000 + 60_000,
  handler: noopHandler,
};
