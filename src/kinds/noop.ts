/**
 * `noop`: does nothing, optionally after sleeping `sleep_ms`. Used by benchmarks, smoke tests and to
 * exercise cancellation and timeouts. With sleep_ms 0 it returns without creating a timer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
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
  signal.throwIfAborted();
  if (ms === 0) return { slept_ms: 0 };
  // An aborted sleep rejects with an AbortError; the job fails with the abort's own reason instead.
  await sleep(ms, undefined, { signal }).catch(() => signal.throwIfAborted());
  return { slept_ms: ms };
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
