/**
 * API keys. With keys configured, every /v1 request (and /metrics with metricsAuth) needs
 * `Authorization: Bearer <key>`. Both sides are hashed with SHA-256 so the comparison is over equal
 * lengths, and every key is compared (no early exit), so timing says nothing about which bytes matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JobqError } from '../queue/errors.ts';

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** A checker for a bearer token against `keys`; with no keys, every token (and none) passes. */
export function keyChecker(keys: readonly string[]): (token: string | undefined) => boolean {
  const digests = keys.map(sha256);
  return (token) => {
    if (digests.length === 0) return true;
    const candidate = sha256(token ?? '');
    let matched = 0;
    for (const digest of digests) matched |= Number(timingSafeEqual(candidate, digest));
    return token !== undefined && matched === 1;
  };
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

export function installAuth(app: FastifyInstance, opts: { apiKeys: readonly string[]; metricsAuth: boolean }): void {
  if (opts.apiKeys.length === 0) return;
  const check = keyChecker(opts.apiKeys);
  app.addHook('onRequest', async (request) => {
    if (!needsKey(request, opts.metricsAuth)) return;
    const header = request.headers.authorization;
    if (!check(bearerToken(typeof header === 'string' ? header : undefined))) {
      throw new JobqError('unauthorized', 'a valid API key is required: Authorization: Bearer <key>');
    }
  });
}
