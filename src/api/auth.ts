/**
 * API keys on requests. With keys configured, every /v1 request (and /metrics with metricsAuth) needs
 * `Authorization: Bearer <key>` (401 `unauthorized` otherwise), and the key must hold the scope the
 * route declares (403 `forbidden` otherwise). Keys, their forms and the constant-time comparison are
 * in keys.ts.
 *
 * Scopes, declared by each route in its OpenAPI `security` requirement (`securityFor`), the one source
 * for both the check and the document:
 *   enqueue  POST /v1/jobs, POST /v1/jobs/batch
 *   read     GET /v1/jobs, GET /v1/jobs/:id, GET /v1/jobs/:id/children, GET /v1/stats, GET /v1/stats/throughput, GET /v1/kinds,
 *            GET /v1/workers, GET /v1/queues, GET /v1/queues/:name, GET /v1/schedules, GET /v1/schedules/:name,
 *            GET /v1/events, GET /metrics (with metricsAuth)
 *   admin    POST /v1/jobs/:id/cancel, POST /v1/jobs/:id/retry, PUT /v1/queues/:name, PUT and DELETE /v1/schedules/:name,
 *            POST /v1/schedules/:name/trigger (routes/schedules.ts says why); admin also grants every other scope
 * A /v1 route that declares no scope needs admin; an unknown /v1 path needs any valid key (then 404).
 *
 * Not @fastify/bearer-auth: it checks a flat set of keys, while ours have names (logged), scopes per
 * route, hashed forms and a SIGHUP reload, so keys.ts would stay whole and the plugin would only add
 * a second error format to map.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JobqError } from '../errors.ts';
import { type ApiKey, grants, KeyRing, parseKeyEntry, type Scope, SCOPES } from './keys.ts';

/** A route's OpenAPI security requirement: a bearer key holding `scope`. */
export const securityFor = (scope: Scope) => [{ bearerAuth: [scope] }];

/** A checker for a bearer token against `keys` (entries as in keys.ts); with no keys, every token (and none) passes. */
export function keyChecker(keys: readonly string[]): (token: string | undefined) => boolean {
  const ring = new KeyRing(keys.map((k, i) => parseKeyEntry(k, i + 1)));
  return (token) => keys.length === 0 || ring.authenticate(token) !== undefined;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +([\x21-\x7E]+) *$/i.exec(header ?? '');
  return match?.[1];
}

/** Does this request need a key? Decided by the matched route's template, and for unmatched URLs by the path. */
export function needsKey(request: FastifyRequest, metricsAuth: boolean): boolean {
  const route = request.routeOptions.url;
  const path = route ?? request.url.split('?')[0] ?? '';
  if (path === '/v1' || path.startsWith('/v1/')) return true;
  return metricsAuth && route === '/metrics';
}

/** The scope the matched route declares; admin for a route that declares none; undefined for no route. */
export function scopeOf(request: FastifyRequest): Scope | undefined {
  if (request.routeOptions.url === undefined) return undefined;
  const security = (request.routeOptions.schema as { security?: Record<string, string[]>[] } | undefined)?.security;
  const declared = security?.[0]?.bearerAuth?.[0];
  return (SCOPES as readonly string[]).includes(declared ?? '') ? (declared as Scope) : 'admin';
}

const keyOfRequest = new WeakMap<FastifyRequest, ApiKey>();

/** The name of the key this request was authenticated with, for the access log. */
export function keyNameOf(request: FastifyRequest): string | undefined {
  return keyOfRequest.get(request)?.name;
}

/** Installs the key check when `keys` holds any key (a ring can be replaced later, never emptied). */
export function installAuth(app: FastifyInstance, opts: { keys: KeyRing; metricsAuth: boolean }): void {
  if (opts.keys.size === 0) return;
  app.addHook('onRequest', async (request) => {
    if (!needsKey(request, opts.metricsAuth)) return;
    const header = request.headers.authorization;
    const key = opts.keys.authenticate(bearerToken(typeof header === 'string' ? header : undefined));
    if (!key) throw new JobqError('unauthorized', 'a valid API key is required: Authorization: Bearer <key>');
    keyOfRequest.set(request, key);
    const needed = scopeOf(request);
    if (needed !== undefined && !grants(key.scopes, needed)) {
      throw new JobqError('forbidden', `the API key "${key.name}" lacks the scope "${needed}" this route needs`);
    }
  });
}
