/**
 * The OpenAPI 3.1 document, generated from the route schemas (the same TypeBox schemas that validate
 * requests and serialise responses), served at /openapi.json, and the interactive reference at /docs.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../version.ts';

const DESCRIPTION = `A PostgreSQL-backed job queue.

All JSON is snake_case; timestamps are RFC 3339 in UTC. Every error has the body
\`{"error": {"kind", "message", "details"?}}\`, where \`kind\` is stable. Request bodies are UTF-8
\`application/json\`, nest at most 64 levels, and envelopes reject unknown fields. Send \`X-Request-Id\`
(1-128 of \`A-Za-z0-9._:-\`) to choose the id logged for a request; every response echoes it.`;

/** Registers @fastify/swagger; call before the routes so it sees them all. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'jobq', version: VERSION, description: DESCRIPTION },
      tags: [
        { name: 'jobs', description: 'Enqueue and manage jobs.' },
        { name: 'queues', description: 'Queues and their policies: concurrency, rate, pause, group concurrency.' },
        { name: 'schedules', description: 'Recurring jobs: a cron expression or an interval, and the job each tick enqueues.' },
        { name: 'system', description: 'Health, readiness, metrics, statistics and kinds.' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description:
              'An API key (`--api-keys`, `--api-keys-file`), required on /v1 when keys are configured. Each operation lists the scope ' +
              'its key needs (`enqueue`, `read` or `admin`; admin grants all); a valid key without it gets 403 `forbidden`.' },
        },
      },
    },
    // Shared schemas become components named by their $id (Job, Error) instead of def-0, def-1.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
}

/** GET /openapi.json and the /docs reference page; call after the routes. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  app.get(
    '/openapi.json',
    {
      schema: {
        operationId: 'openapi',
        tags: ['system'],
        summary: 'This document',
        security: [],
        response: { 200: { type: 'object', additionalProperties: true, description: 'The OpenAPI 3.1 document.' } },
      },
    },
    async () => app.swagger(),
  );
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
}
