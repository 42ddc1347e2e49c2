/**
 * The dashboard's reads (issue #20), for any client: GET /v1/workers, GET /v1/stats/throughput and
 * GET /v1/jobs/{id}/children. Registered with the prefix /v1. Throughput is answered from one query per
 * STATS_CACHE_MS per window size, however many dashboards are open, as /v1/stats is.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { JobqError } from '../../errors.ts';
import { cached } from '../../lib/cached.ts';
import { THROUGHPUT_MINUTES } from '../../limits.ts';
import type { Queue, Throughput } from '../../queue/index.ts';
import { securityFor } from '../auth.ts';
import { renderChildren, renderThroughput, renderWorkers } from '../render.ts';
import { errorResponses } from '../schemas/errors.ts';
import { ChildListSchema, ChildrenQuerySchema, ThroughputQuerySchema, ThroughputSchema, WorkerListSchema } from '../schemas/insights.ts';
import { JobIdParamsSchema } from '../schemas/requests.ts';
import { STATS_CACHE_MS } from './system.ts';

export interface InsightRoutesOptions {
  queue: Queue;
}

export const insightRoutes: FastifyPluginAsyncTypebox<InsightRoutesOptions> = async (app, { queue }) => {
  const windows = new Map<number, () => Promise<Throughput>>();
  const throughput = (minutes: number) => {
    let read = windows.get(minutes);
    if (!read) windows.set(minutes, (read = cached(() => queue.insights.throughput(minutes), STATS_CACHE_MS)));
    return read();
  };

  app.get(
    '/workers',
    {
      schema: {
        operationId: 'listWorkers',
        tags: ['system'],
        summary: 'The workers: alive now or seen within the last hour',
        description: 'Each with its concurrency, the queues it works and the jobs running under it; `alive` false: stopped, or died and its lease has passed.',
        security: securityFor('read'),
        response: { 200: { ...WorkerListSchema, description: 'By id.' }, ...errorResponses(401, 403, 500, 503) },
      },
    },
    async () => renderWorkers(await queue.insights.workers()),
  );

  app.get(
    '/stats/throughput',
    {
      schema: {
        operationId: 'throughput',
        tags: ['system'],
        summary: 'Jobs finished per queue and minute',
        description:
          `The last \`minutes\` minutes (default ${THROUGHPUT_MINUTES.default}), the current one included, counted from the finished jobs ` +
          `retention still keeps. Read at most once per ${STATS_CACHE_MS} ms: the answer may be that old.`,
        security: securityFor('read'),
        querystring: ThroughputQuerySchema,
        response: { 200: { ...ThroughputSchema, description: 'Counts per minute, oldest first.' }, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => renderThroughput(await throughput(request.query.minutes ?? THROUGHPUT_MINUTES.default)),
  );

  app.get(
    '/jobs/:id/children',
    {
      schema: {
        operationId: 'listChildren',
        tags: ['jobs'],
        summary: "A job's children: the jobs whose depends_on names it",
        description: 'By id, oldest first; walk the pages with `cursor` = the previous `next_cursor` until it is null. See docs/flows.md.',
        security: securityFor('read'),
        params: JobIdParamsSchema,
        querystring: ChildrenQuerySchema,
        response: { 200: { ...ChildListSchema, description: 'One page.' }, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => {
      const page = await queue.insights.children(request.params.id, { limit: request.query.limit, cursor: request.query.cursor });
      // An empty first page may be a job without children or no job at all: only the second is a 404.
      if (page.jobs.length === 0 && request.query.cursor === undefined && !(await queue.get(request.params.id))) {
        throw new JobqError('not_found', `no job with id ${request.params.id}`);
      }
      return renderChildren(page);
    },
  );
};
