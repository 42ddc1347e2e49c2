/**
 * Bounds on what a client may hold (issue 14, item 8): Fastify and Node leave requests and idle
 * sockets unbounded (`requestTimeout` and `connectionTimeout` 0), so a client sending a byte a second
 * held a socket forever, and enough of them exhausted the process's file descriptors.
 *   - headers, then the whole request, must arrive within their timeouts: else 408 and close;
 *   - a connection with no traffic either way for `idleTimeoutMs` is closed (a client that stops reading);
 *   - an idle keep-alive connection is closed after `keepAliveTimeoutMs`;
 *   - at most `maxConnections` are held; more are closed as they arrive.
 * Node checks the first two every `connectionsCheckingInterval` (30 s by default, which would add up
 * to 30 s to every bound): here a quarter of the headers timeout, at most 1 s.
 */
import type { ServerOptions } from 'node:http';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { type Config, SETTINGS } from '../config.ts';

export type ConnectionLimits = Pick<Config, 'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs' | 'idleTimeoutMs' | 'maxConnections'>;

/** The defaults of the settings, for an app built without them (tests, library users). */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  requestTimeoutMs: SETTINGS.requestTimeoutMs.default,
  headersTimeoutMs: SETTINGS.headersTimeoutMs.default,
  keepAliveTimeoutMs: SETTINGS.keepAliveTimeoutMs.default,
  idleTimeoutMs: SETTINGS.idleTimeoutMs.default,
  maxConnections: SETTINGS.maxConnections.default,
};

/** Fastify's server options for these limits (missing ones take the defaults above). */
export function connectionOptions(given: Partial<ConnectionLimits>): Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout'> & { http: ServerOptions } {
  const l = { ...DEFAULT_CONNECTION_LIMITS, ...given };
  return {
    requestTimeout: l.requestTimeoutMs,
    connectionTimeout: l.idleTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    http: {
      requestTimeout: l.requestTimeoutMs,
      headersTimeout: Math.min(l.headersTimeoutMs, l.requestTimeoutMs),
      connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(l.headersTimeoutMs / 4))),
    },
  };
}

export function limitConnections(app: FastifyInstance, given: Partial<ConnectionLimits>): void {
  app.server.maxConnections = given.maxConnections ?? DEFAULT_CONNECTION_LIMITS.maxConnections;
}
