/**
 * Starts the parts a command asks for (API, worker, or both) on one database, and stops them in order:
 * HTTP stops taking requests and the worker drains at the same time, then the pool closes, then the
 * embedded PostgreSQL (if this process started it) stops, after the worker has released its jobs.
 */
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { KeyRing, loadApiKeys } from './api/keys.ts';
import { type Config, isLoopback } from './config.ts';
import { type Database, openDatabase } from './db/index.ts';
import { builtinKinds } from './kinds/index.ts';
import { KindRegistry } from './kinds/registry.ts';
import type { Logger } from './logger.ts';
import { type ApiEvents, createMetrics, type Metrics } from './metrics/metrics.ts';
import { serveMetrics } from './metrics/server.ts';
import { isJobqError } from './errors.ts';
import { retry } from './lib/retry.ts';
import { appliedVersion, LATEST_VERSION, migrate } from './queue/migrate.ts';
import { Queue, type ScheduleDefinition } from './queue/index.ts';
import { Worker } from './worker/worker.ts';
import type { EventHub } from './events/index.ts';

export interface Service {
  db: Database;
  queue: Queue;
  worker: Worker | undefined;
  app: FastifyInstance | undefined;
  /** The API's event hub (GET /v1/events, long-polls); undefined without an API. */
  hub: EventHub | undefined;
  metrics: Metrics;
  /** Where the API listens, e.g. http://127.0.0.1:8080. */
  url: string | undefined;
  /** Where a worker's own metrics server listens (`--metrics-port`). */
  metricsUrl: string | undefined;
  /**
   * Loads the API keys again (what SIGHUP does): the `--api-keys` entries as given at start, plus the
   * `--api-keys-file` read anew. Returns the names now in force. Throws, keeping the keys in force,
   * when the file cannot be read, holds an invalid entry or no key, or when the service started
   * without keys (the API is open then; restart it with keys). Undefined without an API.
   */
  reloadKeys: (() => string[]) | undefined;
  stop(): Promise<void>;
}

export interface StartOptions {
  api: boolean;
  worker: boolean;
  /** Extra kinds beside the built-in ones. */
  kinds?: KindRegistry;
  /**
   * The schedules to reconcile at start (Queue.schedules.reconcile: added, changed, and those of an
   * earlier reconcile not listed removed). Default: those of `config.schedulesFile` when set; with
   * neither, schedules are left as they are.
   */
  schedules?: ScheduleDefinition[];
}

export async function startService(config: Config, logger: Logger, what: StartOptions): Promise<Service> {
  const workerMetrics = !what.api && config.metricsPort !== undefined;
  const keys = new KeyRing(what.api || (workerMetrics && config.metricsAuth) ? loadApiKeys(config) : []);
  if (what.api && !isLoopback(config.host) && keys.size === 0 && !config.insecure) {
    throw new Error(
      `refusing to listen on ${config.host} without API keys: anyone who can reach it could enqueue work. ` +
        'Set JOBQ_API_KEYS (or --api-keys), listen on 127.0.0.1, or pass --insecure true if a proxy in front authenticates.',
    );
  }
  if (workerMetrics && !isLoopback(config.metricsHost) && keys.size === 0 && !config.insecure) {
    throw new Error(
      `refusing to serve worker metrics on ${config.metricsHost} without a key: anyone who can reach it could read the queues' names and counts. ` +
        'Set --metrics-auth true with JOBQ_API_KEYS (a key with the read scope), listen on 127.0.0.1, or pass --insecure true if a proxy in front authenticates.',
    );
  }
  const kinds = what.kinds ?? new KindRegistry(builtinKinds({
    smtpUrl: config.smtpUrl,
    outboxDir: config.outboxDir,
    mailFrom: config.mailFrom,
    httpAllowHosts: config.httpAllowHosts,
  }));
  // Read and checked before anything starts: a bad file stops the start at once, naming the file and the field.
  const schedulesFile = what.schedules === undefined ? config.schedulesFile : undefined;
  const schedules = what.schedules ?? (schedulesFile === undefined ? undefined : await (await import('./api/schedules-wire.ts')).readSchedulesFile(schedulesFile, kinds));
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    max: config.poolSize,
    queryTimeoutMs: config.queryTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    readTimeoutMs: config.readTimeoutMs,
    log: (m) => logger.info(m),
    onError: (err) => logger.warn({ err: err.message }, 'idle database connection lost'),
  });
  try {
    if (config.migrate) await migrateWithRetry(db, logger, config.migrateLockTimeoutMs, config.schema);
    const queue = new Queue({ pool: db.pool, readPool: db.readPool, kinds, schema: config.schema, logStore: config.logStore, backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs } });
    queue.events.on('eventsPublished', ({ dropped, error }) => {
      if (error !== undefined) logger.warn({ err: (error as Error).message, dropped }, 'job events could not be published; dropped');
    });
    if (schedules !== undefined) {
      const { added, changed, removed } = await queue.schedules.reconcile(schedules);
      logger.info({ ...(schedulesFile === undefined ? {} : { file: schedulesFile }), added, changed, removed }, 'schedules reconciled');
    }
    const worker = what.worker
      ? new Worker({ ...config, queue, databaseUrl: db.url, listenUrl: config.listenUrl, logger })
      : undefined;
    const apiEvents = new EventEmitter<ApiEvents>();
    const metrics = createMetrics({
      queue,
      worker,
      api: what.api ? apiEvents : undefined,
      knownQueues: [...config.metricsQueues, ...config.queues],
      maxQueueLabels: config.metricsMaxQueues,
    });
    let app: FastifyInstance | undefined;
    let url: string | undefined;
    let metricsServer: (Server & { url: string }) | undefined;
    let hub: EventHub | undefined;
    if (what.api) {
      // Loaded only when asked for: a worker process never pays for Fastify, nor for the event hub.
      const { buildApp } = await import('./api/app.ts');
      const { EventHub } = await import('./events/index.ts');
      // Idle (no LISTEN connection, no registration) until a stream or a wait opens.
      hub = new EventHub({
        url: config.listenUrl ?? db.url,
        db: db.pool,
        schema: queue.schema,
        logger,
        replayEvents: config.eventsReplayEvents,
        replayMs: config.eventsReplayMs,
        reconcileMs: config.eventsReconcileMs,
        maxStreams: config.eventsMaxStreams,
        // An API-only process does not LISTEN on jobq_listeners: its own streams turn its publisher on.
        onRegistered: () => queue.publisher.onListenersChanged(),
      });
      const api = await buildApp({
        queue,
        config,
        logger,
        hub,
        ready: async () => (await appliedVersion(db.pool).catch(() => 0)) >= LATEST_VERSION,
        metrics,
        events: apiEvents,
        keys,
        ui: config.ui ? {} : false,
      });
      app = api;
      url = await api.listen({ host: config.host, port: config.port });
      logger.info({ url, docs: `${url}/docs`, ...(config.ui ? { dashboard: `${url}/ui` } : {}), keys: keys.names() }, 'API listening');
    }
    if (workerMetrics && config.metricsPort !== undefined) {
      metricsServer = await serveMetrics(metrics, config.metricsHost, config.metricsPort, keys.size > 0 ? keys : undefined);
      logger.info({ url: `${metricsServer.url}/metrics` }, 'metrics listening');
    }
    await worker?.start();
    let stopping: Promise<void> | undefined;
    return {
      db,
      queue,
      worker,
      app,
      hub,
      metrics,
      url,
      metricsUrl: metricsServer?.url,
      reloadKeys: what.api
        ? () => {
            if (keys.size === 0) throw new Error('the API started without keys; restart it with --api-keys or --api-keys-file');
            keys.replace(loadApiKeys(config));
            return keys.names();
          }
        : undefined,
      stop: () =>
        (stopping ??= (async () => {
          metricsServer?.close();
          // The app ends its streams and waits first, then the hub stops listening and unregisters.
          await Promise.all([app?.close().then(() => hub?.close()), worker?.stop()]);
          await queue.publisher.flush(); // the last outcomes' events, before the pool closes
          await db.close();
        })()),
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

/** At start the database may still be coming up (a fresh container, a restart): wait for it a while. */
async function migrateWithRetry(db: Database, logger: Logger, lockTimeoutMs: number, schema: string): Promise<void> {
  const { applied, version } = await retry(() => migrate(db.pool, undefined, { lockTimeoutMs, schema }), {
    retryable: (err) => isJobqError(err, 'database_unavailable'),
    withinMs: 60_000,
    firstDelayMs: 250,
    maxDelayMs: 5_000,
    onRetry: (err, ms) => logger.warn({ retry_ms: ms, err: (err as Error).message }, 'database not reachable yet; retrying'),
  });
  if (applied.length > 0) logger.info({ applied, version, schema }, 'migrations applied');
}

/**
 * SIGHUP reloads the API keys (`Service.reloadKeys`) and logs the names now in force, or why the old
 * keys stay. Installed before start-up (SIGHUP's default would end the process); one that arrives
 * while starting is applied once the service is up. A process without an API installs nothing.
 */
export function reloadOnHangup(logger: Logger): { started(service: Service): void } {
  let service: Service | undefined;
  let pending = false;
  const reload = () => {
    try {
      const names = service!.reloadKeys!();
      logger.info({ keys: names }, 'API keys reloaded');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'API keys not reloaded; the previous keys stay in force');
    }
  };
  process.on('SIGHUP', () => {
    if (service) reload();
    else pending = true;
  });
  return {
    started(s: Service) {
      service = s;
      if (pending) reload();
    },
  };
}

/**
 * SIGTERM or SIGINT: stop gracefully, exit 0. Installed before start-up, so a signal that arrives while
 * the service is still starting stops it as soon as it is up (the embedded PostgreSQL included).
 * Another signal while stopping exits at once, unless it comes within 300 ms of the first: that is
 * the same Ctrl-C reaching us twice (from the terminal's process group and forwarded by `npm start`).
 * Not close-with-grace: it ends the process on any second signal (this doubled Ctrl-C included) and
 * after a fixed delay of its own, where --shutdown-grace-ms bounds the worker's drain already; and a
 * signal during start-up would still need the bookkeeping here.
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
