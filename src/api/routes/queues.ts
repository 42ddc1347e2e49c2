/** /v1/queues: queues with their policies and counts, and changing a policy. Registered with the prefix /v1. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { JobqError } from '../../errors.ts';
import { parseDuration } from '../../lib/duration.ts';
import { RATE_PERIOD_MS } from '../../limits.ts';
import type { Queue } from '../../queue/index.ts';
import type { QueuePolicyPatch } from '../../queue/types.ts';
import { securityFor } from '../auth.ts';
import { renderQueue } from '../render.ts';
import { errorResponses } from '../schemas/errors.ts';
import { Ref } from '../schemas/job.ts';
import { QueueListQuerySchema, QueueListSchema, QueueNameParamsSchema, QueueSchema, SetQueueBodySchema, type SetQueueWire } from '../schemas/queues.ts';

export interface QueueRoutesOptions {
  queue: Queue;
}

const badPeriod = (message: string) => new JobqError('validation_failed', `rate ${message}`, [{ path: '/rate/period', message }]);

/**
 * A rate's period in milliseconds: `period` as a duration (src/lib/duration.ts) ("1s", "1h",
 * "250ms", "10 minutes") or a number of milliseconds, or `period_ms`; exactly one of them.
 */
export function periodMs(rate: { period?: string | number; period_ms?: number }): number {
  if ((rate.period === undefined) === (rate.period_ms === undefined)) throw badPeriod('needs exactly one of period and period_ms');
  const value = rate.period_ms ?? (typeof rate.period === 'string' ? durationOrUndefined(rate.period) : rate.period);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < RATE_PERIOD_MS.min || value > RATE_PERIOD_MS.max) {
    throw badPeriod(`must be a duration like "1s", "1h" or "250ms", or whole milliseconds, from ${RATE_PERIOD_MS.min} ms to ${RATE_PERIOD_MS.max} ms`);
  }
  return value;
}

function durationOrUndefined(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined; // periodMs says what a period must be
  }
}

/** The wire body → the queue's patch (snake_case, a rate's period in milliseconds). */
function toPatch(body: SetQueueWire): QueuePolicyPatch {
  const patch: QueuePolicyPatch = {};
  if (body.paused !== undefined) patch.paused = body.paused;
  if (body.concurrency !== undefined) patch.concurrency = body.concurrency;
  if (body.group_concurrency !== undefined) patch.groupConcurrency = body.group_concurrency;
  if (body.rate !== undefined) patch.rate = body.rate === null ? null : { limit: body.rate.limit, periodMs: periodMs(body.rate) };
  return patch;
}

export const queueRoutes: FastifyPluginAsyncTypebox<QueueRoutesOptions> = async (app, { queue }) => {
  app.get(
    '/queues',
    {
      schema: {
        operationId: 'listQueues',
        tags: ['queues'],
        summary: 'List queues with their policies and counts',
        description:
          'Every queue that has unfinished jobs or a policy, by name: its policy, the jobs runnable now (`depth`), running, and the age of ' +
          'its oldest runnable job. Walk the pages with `cursor` = the previous `next_cursor` until it is null.',
        security: securityFor('read'),
        querystring: QueueListQuerySchema,
        response: { 200: { ...QueueListSchema, description: 'One page.' }, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => {
      const page = await queue.listQueues({ after: request.query.cursor, limit: request.query.limit });
      return { queues: page.queues.map(renderQueue), next_cursor: page.nextAfter };
    },
  );

  app.get(
    '/queues/:name',
    {
      schema: {
        operationId: 'getQueue',
        tags: ['queues'],
        summary: 'Read a queue',
        description: 'Any valid name answers: a queue needs no creating (one without jobs or policy has zeros and no limits).',
        security: securityFor('read'),
        params: QueueNameParamsSchema,
        response: { 200: Ref(QueueSchema, { description: 'The queue.' }), ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => renderQueue(await queue.getQueue(request.params.name)),
  );

  app.put(
    '/queues/:name',
    {
      schema: {
        operationId: 'setQueue',
        tags: ['queues'],
        summary: "Change a queue's policy",
        description:
          'Sets any of `concurrency` (running jobs at most, on all workers together), `rate` (`{limit, period}`: starts at most in any ' +
          'sliding window of the period), `paused` and `group_concurrency` (running jobs at most per group); a field left out stays, ' +
          'null removes a limit. Every worker follows within one poll interval, at once when its notification arrives. ' +
          'Answers with the queue as it is now.',
        security: securityFor('admin'),
        params: QueueNameParamsSchema,
        body: SetQueueBodySchema,
        response: { 200: Ref(QueueSchema, { description: 'The queue with its new policy.' }), ...errorResponses(400, 401, 403, 413, 415, 500, 503) },
      },
    },
    async (request) => renderQueue(await queue.setQueue(request.params.name, toPatch(request.body))),
  );
};
