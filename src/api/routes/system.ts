/** Liveness, readiness, metrics, and the read-only /v1 views of the whole queue: stats and kinds. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { cached } from '../../lib/cached.ts';
import { JobqError } from '../../errors.ts';
import type { Queue } from '../../queue/index.ts';
import { renderKind, renderStats } from '../render.ts';
import { securityFor } from '../auth.ts';
import { errorResponses } from '../schemas/errors.ts';
import { HealthSchema, KindListSchema, ReadySchema, StatsSchema } from '../schemas/responses.ts';

export interface SystemRoutesOptions {
  queue: Queue;
  ready: () => Promise<boolean>;
  readyTimeoutMs: number;
  metrics?: { contentType: string; render(): Promise<string> } | undefined;
  metricsAuth: boolean;
}

const OPEN: [] = [];
/**
 * /readyz needs no key and /v1/stats counts the whole table: each is answered from one check or query
 * per this period, however many callers ask (concurrent ones share the one in flight).
 */
export const READY_CACHE_MS = 1_000;
export const STATS_CACHE_MS = 1_000;

/** True when `ready()` resolves true within `timeoutMs`; false when it resolves otherwise, rejects or is late. */
export async function checkReady(ready: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    const answer = Promise.resolve()
      .then(ready)
      .then((ok) => ok === true, () => false);
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

export const systemRoutes: FastifyPluginAsyncTypebox<SystemRoutesOptions> = async (app, opts) => {
  const isReady = cached(() => checkReady(opts.ready, opts.readyTimeoutMs), READY_CACHE_MS);
  const stats = cached(() => opts.queue.stats(), STATS_CACHE_MS);

  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'health',
        tags: ['system'],
        summary: 'Liveness: the process runs',
        security: OPEN,
        response: { 200: { ...HealthSchema, description: 'Alive.' }, ...errorResponses(500) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'ready',
        tags: ['system'],
        summary: 'Readiness: the database answers',
        description:
          `Ready when the readiness check (a database round trip) succeeds within ${opts.readyTimeoutMs} ms. ` +
          `The answer is reused for ${READY_CACHE_MS} ms.`,
        security: OPEN,
        response: { 200: { ...ReadySchema, description: 'Ready to serve.' }, ...errorResponses(500, 503) },
      },
    },
    async () => {
      if (!(await isReady())) {
        throw new JobqError('database_unavailable', 'not ready: the database did not answer');
      }
      return { status: 'ready' as const };
    },
  );

  if (opts.metrics) {
    const metrics = opts.metrics;
    app.get(
      '/metrics',
      {
        schema: {
          operationId: 'metrics',
          tags: ['system'],
          summary: 'Prometheus metrics',
          security: opts.metricsAuth ? securityFor('read') : OPEN,
          response: {
            200: {
              description: 'Prometheus text exposition format.',
              content: { 'text/plain': { schema: { type: 'string', examples: ['# HELP jobq_jobs_enqueued_total Jobs enqueued.\n'] } } },
            },
            ...errorResponses(...(opts.metricsAuth ? [401, 403, 500] : [500])),
          },
        },
      },
      async (_request, reply) => {
        const text = await metrics.render();
        return reply.type(metrics.contentType).send(text);
      },
    );
  }

  app.get(
    '/v1/stats',
    {
      schema: {
        operationId: 'stats',
        tags: ['system'],
        summary: 'Job counts by status, kind and queue',
        description: `Read at most once per ${STATS_CACHE_MS} ms: the answer may be that old.`,
        security: securityFor('read'),
        response: { 200: { ...StatsSchema, description: 'Counts.' }, ...errorResponses(401, 403, 500, 503) },
      },
    },
    async () => renderStats(await stats()),
  );

  app.get(
    '/v1/kinds',
    {
      schema: {
        operationId: 'kinds',
        tags: ['system'],
        summary: 'The registered job kinds and their payload schemas',
        security: securityFor('read'),
        response: { 200: { ...KindListSchema, description: 'Every kind.' }, ...errorResponses(401, 403, 500) },
      },
    },
    async () => opts.queue.kinds.list().map(renderKind),
  );
};
