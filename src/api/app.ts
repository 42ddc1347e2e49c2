/**
 * The HTTP API (issue #4): a Fastify instance built from plugins (routes/jobs.ts, queues.ts, schedules.ts, events.ts and insights.ts under /v1,
 * routes/system.ts, openapi.ts, the dashboard in ui.ts), one error format (errors.ts), one body parser (body.ts), API keys
 * (auth.ts), request ids, access logs and a `request` event per response for metrics.
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { pino, type Logger } from 'pino';
import type { Config } from '../config.ts';
import { type ConnectionLimits, connectionOptions, limitConnections } from './connections.ts';
import type { EventHub } from '../events/index.ts';
import type { Queue } from '../queue/index.ts';
import { installAuth, keyNameOf } from './auth.ts';
import { installJsonParser } from './body.ts';
import { KeyRing, loadApiKeys } from './keys.ts';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandling } from './errors.ts';
import { registerDocs, registerOpenApi } from './openapi.ts';
import { bodyValidator, paramsValidator } from './validator.ts';
import { eventRoutes } from './routes/events.ts';
import { insightRoutes } from './routes/insights.ts';
import { jobRoutes } from './routes/jobs.ts';
import { queueRoutes } from './routes/queues.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { systemRoutes } from './routes/system.ts';
import { registerUi, type UiOptions } from './ui.ts';
import { ErrorBodySchema } from './schemas/errors.ts';
import { JobEventSchema } from './schemas/events.ts';
import { JobSchema } from './schemas/job.ts';
import { QueueSchema } from './schemas/queues.ts';
import { ScheduleSchema } from './schemas/schedules.ts';

export interface RequestEvent {
  method: string;
  /** The route template (`/v1/jobs/:id`), or `unmatched` when no route matched: never the raw URL. */
  route: string;
  statusCode: number;
  durationMs: number;
}

export type ApiEvents = { request: [RequestEvent] };

export interface ApiOptions {
  queue: Queue;
  config: Pick<Config, 'apiKeys' | 'metricsAuth' | 'bodyLimit'> & Partial<ConnectionLimits> & Partial<Pick<Config, 'eventsHeartbeatMs' | 'eventsStreamBuffer'>>;
  /**
   * Serves GET /v1/events and `?wait=` long-polls (src/events/; its owner closes it after the app).
   * Without one, they answer 503 too_many_streams.
   */
  hub?: EventHub;
  /** Access logs and errors go here (one JSON line per request). Default: silent. */
  logger?: Logger;
  /** Readiness check for /readyz (typically a database round trip). */
  ready: () => Promise<boolean>;
  /** How long /readyz waits for `ready()`. Default 2000 ms. */
  readyTimeoutMs?: number;
  /** Serves GET /metrics when given. */
  metrics?: { contentType: string; render(): Promise<string> };
  /**
   * The API keys in force; replace its keys to rotate them while serving (SIGHUP does, see server.ts).
   * Default: a ring of `config.apiKeys`.
   */
  keys?: KeyRing;
  /** Receives one `request` event per response. */
  events?: EventEmitter<ApiEvents>;
  /** Serves the dashboard at /ui (ui.ts) from these files; default: no dashboard. */
  ui?: UiOptions | false;
}

export const DEFAULT_READY_TIMEOUT_MS = 2000;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is 1-128 of [A-Za-z0-9._:-], else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** A Fastify instance with every route registered; `listen` or `inject` it. */
export async function buildApp(opts: ApiOptions): Promise<FastifyInstance> {
  const { bodyLimit, apiKeys, metricsAuth } = opts.config;
  const app = Fastify({
    loggerInstance: opts.logger ?? pino({ level: 'silent' }),
    // Fastify's two lines per request are replaced by the one access-log line of the onResponse hook.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit,
    // Queue and schedule names run to 128 characters, each of which may arrive percent-encoded (`:` as
    // %3A): Fastify's default of 100 would refuse valid names before their schema could say anything.
    routerOptions: { maxParamLength: 3 * 128 },
    genReqId: requestIdOf,
    requestIdHeader: false,
    // While closing, requests still in flight on open connections are served normally (Fastify's 503
    // would not have the API's error body).
    return503OnClosing: false,
    frameworkErrors: frameworkErrorHandler(bodyLimit),
    clientErrorHandler,
    ...connectionOptions(opts.config),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as FastifyInstance;

  // Bodies are validated as sent: no type coercion, no silent removal of unknown fields. Query strings
  // and path parameters are text, so numbers there are coerced.
  limitConnections(app, opts.config);
  const bodies = bodyValidator();
  const params = paramsValidator();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : params).compile(schema));
  app.addSchema(JobSchema);
  app.addSchema(ErrorBodySchema);
  app.addSchema(QueueSchema);
  app.addSchema(ScheduleSchema);
  app.addSchema(JobEventSchema);

  installJsonParser(app);
  installErrorHandling(app, bodyLimit);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  installAuth(app, { keys: opts.keys ?? new KeyRing(loadApiKeys({ apiKeys })), metricsAuth });
  app.addHook('onResponse', async (request, reply) => {
    const event: RequestEvent = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      statusCode: reply.statusCode,
      durationMs: reply.elapsedTime,
    };
    const key = keyNameOf(request);
    request.log.info(
      {
        method: event.method,
        route: event.route,
        status: event.statusCode,
        durationMs: Math.round(event.durationMs * 1000) / 1000,
        ...(key === undefined ? {} : { keyName: key }),
      },
      'request completed',
    );
    try {
      opts.events?.emit('request', event);
    } catch (err) {
      request.log.error({ err }, 'a request event listener failed');
    }
  });

  await registerOpenApi(app);
  const routeOpts = {
    queue: opts.queue,
    ready: opts.ready,
    readyTimeoutMs: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    metrics: opts.metrics,
    metricsAuth,
  };
  await app.register(systemRoutes, routeOpts);
  await app.register(jobRoutes, { prefix: '/v1', queue: opts.queue, hub: opts.hub });
  await app.register(eventRoutes, { prefix: '/v1', hub: opts.hub, heartbeatMs: opts.config.eventsHeartbeatMs, streamBuffer: opts.config.eventsStreamBuffer });
  await app.register(queueRoutes, { prefix: '/v1', queue: opts.queue });
  await app.register(scheduleRoutes, { prefix: '/v1', queue: opts.queue });
  await app.register(insightRoutes, { prefix: '/v1', queue: opts.queue });
  await registerDocs(app);
  if (opts.ui) await registerUi(app, opts.ui);
  return app;
}
