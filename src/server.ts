/**
 * Starts the parts a command asks for (API, worker, or both) on one database, and stops them in order:
 * HTTP stops taking requests and the worker drains at the same time, then the pool closes, then the
 * embedded PostgreSQL (if this process started it) stops, after the worker has released its jobs.
 */
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { type Config, isLoopback } from './config.ts';
import { type Database, openDatabase } from './db/index.ts';
import { builtinKinds } from './kinds/index.ts';
import { KindRegistry } from './kinds/registry.ts';
import type { Logger } from './logger.ts';
import { type ApiEvents, createMetrics, type Metrics } from './metrics/metrics.ts';
import { serveMetrics } from './metrics/server.ts';
import { isJobqError } from './queue/errors.ts';
import { LATEST_VERSION, migrate, schemaVersion } from './queue/migrate.ts';
import { Queue } from './queue/queue.ts';
import { Worker } from './worker/worker.ts';

export interface Service {
  db: Database;
  queue: Queue;
  worker: Worker | undefined;
  app: FastifyInstance | undefined;
  metrics: Metrics;
  /** Where the API listens, e.g. http://127.0.0.1:8080. */
  url: string | undefined;
  /** Where a worker's own metrics server listens (`--metrics-port`). */
  metricsUrl: string | undefined;
  stop(): Promise<void>;
}

export interface StartOptions {
  api: boolean;
  worker: boolean;
  /** Extra kinds beside the built-in ones. */
  kinds?: KindRegistry;
}

export async function startService(config: Config, logger: Logger, what: StartOptions): Promise<Service> {
  if (what.api && !isLoopback(config.host) && config.apiKeys.length === 0 && !config.insecure) {
    throw new Error(
      `refusing to listen on ${config.host} without API keys: anyone who can reach it could enqueue work. ` +
        'Set JOBQ_API_KEYS (or --api-keys), listen on 127.0.0.1, or pass --insecure true if a proxy in front authenticates.',
    );
  }
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    max: config.poolSize,
    queryTimeoutMs: config.queryTimeoutMs,
    log: (m) => logger.info(m),
    onError: (err) => logger.warn({ err: err.message }, 'idle database connection lost'),
  });
  try {
    if (config.migrate) await migrateWithRetry(db, logger, config.migrateLockTimeoutMs);
    const kinds = what.kinds ?? new KindRegistry(builtinKinds({
      smtpUrl: config.smtpUrl,
      outboxDir: config.outboxDir,
      mailFrom: config.mailFrom,
      httpAllowHosts: config.httpAllowHosts,
    }));
    const queue = new Queue({ pool: db.pool, kinds, backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs } });
    const worker = what.worker
      ? new Worker({ ...config, queue, databaseUrl: db.url, logger })
      : undefined;
    const apiEvents = new EventEmitter<ApiEvents>();
    const metrics = createMetrics({ queue, worker, api: what.api ? apiEvents : undefined });
    let app: FastifyInstance | undefined;
    let url: string | undefined;
    let metricsServer: (Server & { url: string }) | undefined;
    if (what.api) {
      // Loaded only when asked for: a worker process never pays for Fastify.
      const { buildApp } = await import('./api/app.ts');
      const api = await buildApp({
        queue,
        config,
        logger,
        ready: async () => (await schemaVersion(db.pool).catch(() => 0)) >= LATEST_VERSION,
        metrics,
        events: apiEvents,
      });
      app = api;
      url = await api.listen({ host: config.host, port: config.port });
      logger.info({ url, docs: `${url}/docs` }, 'API listening');
    }
    if (!what.api && config.metricsPort !== undefined) {
      metricsServer = await serveMetrics(metrics, config.metricsHost, config.metricsPort);
      logger.info({ url: `${metricsServer.url}/metrics` }, 'metrics listening');
    }
    await worker?.start();
    let stopping: Promise<void> | undefined;
    return {
      db,
      queue,
      worker,
      app,
      metrics,
      url,
      metricsUrl: metricsServer?.url,
      stop: () =>
        (stopping ??= (async () => {
          metricsServer?.close();
          await Promise.all([app?.close(), worker?.stop()]);
          await db.close();
        })()),
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

/** At start the database may still be coming up (a fresh container, a restart): wait for it a while. */
async function migrateWithRetry(db: Database, logger: Logger, lockTimeoutMs: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      const { applied, version } = await migrate(db.pool, undefined, { lockTimeoutMs });
      if (applied.length > 0) logger.info({ applied, version }, 'migrations applied');
      return;
    } catch (err) {
      if (!isJobqError(err, 'database_unavailable') || Date.now() + delay > deadline) throw err;
      logger.warn({ retry_ms: delay, err: (err as Error).message }, 'database not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * SIGTERM or SIGINT: stop gracefully, exit 0. Installed before start-up, so a signal that arrives while
 * the service is still starting stops it as soon as it is up (the embedded PostgreSQL included).
 * Another signal while stopping exits at once, unless it comes within 300 ms of the first: that is
 * the same Ctrl-C reaching us twice (from the terminal's process group and forwarded by `npm start`).
 */
export function stopOnSignals(logger: Logger): { started(service: Service): void } {
  let first = 0;
  let service: Service | undefined;
  const stop = () =>
    service!.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: (err as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  const onSignal = (signal: NodeJS.Signals) => {
    if (first === 0) {
      first = Date.now();
      logger.info({ signal }, 'shutting down gracefully (send the signal again to exit at once)');
      if (service) void stop();
    } else if (Date.now() - first > 300) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    started(s: Service) {
      service = s;
      if (first !== 0) void stop();
    },
  };
}
