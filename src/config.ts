/**
 * Every setting of jobq, in one table: flag, environment variable, default, parser. The CLI builds its
 * options from this table (so `--help` shows each default and variable), and `resolveConfig` gives
 * library users and tests the same typed, validated result without a command line.
 */
import { InvalidArgumentError, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { DEFAULT_RETENTION, formatRetention, parseRetention, type Retention } from './queue/retention.ts';
import path from 'node:path';
import { parseKeyEntry } from './api/keys.ts';
import { parseDuration } from './lib/duration.ts';
import { EVENT_DEFAULTS } from './events/options.ts';
import { DEFAULT_SCHEMA, schemaNameProblem } from './queue/schema.ts';
import { DEFAULT_LOG_STORE } from './queue/log/busy.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
}
/** Node fires a longer timer at once (TimeoutOverflowWarning): no duration setting may exceed it. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;
/** A duration (src/lib/duration.ts: `250ms`, `30s`, `7d`, or plain milliseconds) from min to max. */
function duration(min: number, max = LONGEST_TIMER_MS) {
  return (raw: string): number => {
    let n: number;
    try {
      n = parseDuration(raw);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    if (n < min || n > max) throw new InvalidArgumentError(`must be from ${min} ms to ${max} ms, got "${raw}" (${n} ms)`);
    return n;
  };
}
const text = (raw: string): string => raw;
/** An empty value (`DATABASE_URL=`) means unset. */
const optionalText = (raw: string): string | undefined => (raw.trim() === '' ? undefined : raw);
const list = (raw: string): string[] => raw.split(',').map((s) => s.trim()).filter(Boolean);
const bool = (raw: string): boolean => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off|)$/i.test(raw)) return false;
  throw new InvalidArgumentError(`must be true or false, got "${raw}"`);
};
const logStoreMode = (raw: string): boolean | 'busy' => {
  if (/^busy$/i.test(raw)) return 'busy';
  if (/^(1|true|yes|on|0|false|no|off|)$/i.test(raw)) return bool(raw);
  throw new InvalidArgumentError(`must be true, false or busy, got "${raw}"`);
};
/** API key entries, each checked (see src/api/keys.ts); errors name the entry, never the key. */
const keyEntries = (raw: string): string[] => {
  const entries = list(raw);
  try {
    entries.forEach((entry, i) => parseKeyEntry(entry, i + 1));
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return entries;
};
const schemaName = (raw: string): string => {
  const problem = schemaNameProblem(raw);
  if (problem) throw new InvalidArgumentError(problem);
  return raw;
};
const oneOf = <T extends string>(choices: readonly T[]) => (raw: string): T => {
  if (!(choices as readonly string[]).includes(raw)) throw new InvalidArgumentError(`must be one of ${choices.join(', ')}`);
  return raw as T;
};

interface Spec<T> {
  flag: string;
  env: string;
  description: string;
  default: T;
  parse: (raw: string) => T;
  /** Shown in --help instead of the value (secrets, computed defaults). */
  shownDefault?: string;
}
const spec = <T>(s: Spec<T>): Spec<T> => s;

export const SETTINGS = {
  // -- database and process
  databaseUrl: spec<string | undefined>({ flag: '--database-url <url>', env: 'DATABASE_URL', description: 'PostgreSQL to use; unset: start an embedded one', default: undefined, parse: optionalText, shownDefault: 'embedded' }),
  listenUrl: spec<string | undefined>({ flag: '--listen-url <url>', env: 'JOBQ_LISTEN_URL', description: 'a direct PostgreSQL URL for LISTEN, when the database URL leads through PgBouncer in transaction mode (workers poll without one there)', default: undefined, parse: optionalText, shownDefault: 'the database URL' }),
  dataDir: spec({ flag: '--data-dir <dir>', env: 'JOBQ_DATA_DIR', description: 'folder for the embedded PostgreSQL and the e-mail outbox', default: './.jobq', parse: text }),
  schema: spec({ flag: '--schema <name>', env: 'JOBQ_SCHEMA', description: 'the PostgreSQL schema jobq lives in: installations with different schemas share a database without seeing each other (lowercase letters, digits, _; at most 40)', default: DEFAULT_SCHEMA, parse: schemaName }),
  logStore: spec<boolean | 'busy'>({ flag: '--log-store [mode]', env: 'JOBQ_LOG_STORE', description: 'plain jobs (priority 0, no group, key or parents, a queue without a policy) go to the append-only log store (docs/design/storage.md): true, every one; busy, those of busy queues; false, none; give api and worker processes the same', default: DEFAULT_LOG_STORE, parse: logStoreMode }),
  migrate: spec({ flag: '--migrate [bool]', env: 'JOBQ_MIGRATE', description: 'apply migrations at start', default: true, parse: bool }),
  logLevel: spec({ flag: '--log-level <level>', env: 'LOG_LEVEL', description: `log level (${LOG_LEVELS.join(', ')})`, default: 'info' as (typeof LOG_LEVELS)[number], parse: oneOf(LOG_LEVELS) }),
  poolSize: spec({ flag: '--pool-size <n>', env: 'JOBQ_POOL_SIZE', description: 'connections in the database pool', default: 10, parse: int(1, 1000) }),
  queryTimeoutMs: spec({ flag: '--query-timeout-ms <duration>', env: 'JOBQ_QUERY_TIMEOUT_MS', description: 'a query unanswered this long fails as database_unavailable', default: 5_000, parse: duration(100) }),
  statementTimeoutMs: spec<number | undefined>({ flag: '--statement-timeout-ms <duration>', env: 'JOBQ_STATEMENT_TIMEOUT_MS', description: 'the database stops any statement running this long (statement_timeout)', default: undefined, parse: duration(100), shownDefault: 'the query timeout' }),
  migrateLockTimeoutMs: spec({ flag: '--migrate-lock-timeout-ms <duration>', env: 'JOBQ_MIGRATE_LOCK_TIMEOUT_MS', description: 'a migration waits this long for a table lock, then gives up and tries again (other statements queue behind its wait)', default: 3_000, parse: duration(1) }),
  // -- HTTP API
  host: spec({ flag: '--host <host>', env: 'HOST', description: 'address the API listens on', default: '127.0.0.1', parse: text }),
  port: spec({ flag: '--port <port>', env: 'PORT', description: 'port the API listens on', default: 8080, parse: int(0, 65535) }),
  apiKeys: spec({ flag: '--api-keys <keys>', env: 'JOBQ_API_KEYS', description: 'comma-separated API keys, each <key> (all scopes) or name:scopes:<key> or name:scopes:sha256:<hex> (scopes: enqueue+read+admin); set: /v1 needs "Authorization: Bearer <key>"', default: [] as string[], parse: keyEntries, shownDefault: 'none' }),
  metricsAuth: spec({ flag: '--metrics-auth [bool]', env: 'JOBQ_METRICS_AUTH', description: '/metrics needs an API key too', default: false, parse: bool }),
  insecure: spec({ flag: '--insecure [bool]', env: 'JOBQ_INSECURE', description: 'allow a non-loopback address without API keys', default: false, parse: bool }),
  readTimeoutMs: spec({ flag: '--read-timeout-ms <duration>', env: 'JOBQ_READ_TIMEOUT_MS', description: 'the database stops an API read (list, get) running this long', default: 2_000, parse: duration(100) }),
  bodyLimit: spec({ flag: '--body-limit <bytes>', env: 'JOBQ_BODY_LIMIT', description: 'largest request body accepted', default: 1_048_576, parse: int(1024, 1024 ** 3) }),
  ui: spec({ flag: '--ui [bool]', env: 'JOBQ_UI', description: 'serve the dashboard at /ui (docs/dashboard.md)', default: true, parse: bool }),
  // -- HTTP API: key file, slow clients (issue 14, items 14 and 8)
  apiKeysFile: spec<string | undefined>({ flag: '--api-keys-file <path>', env: 'JOBQ_API_KEYS_FILE', description: 'more API keys, one entry per line (# comments); re-read on SIGHUP', default: undefined, parse: optionalText, shownDefault: 'none' }),
  requestTimeoutMs: spec({ flag: '--request-timeout-ms <duration>', env: 'JOBQ_REQUEST_TIMEOUT_MS', description: 'a request whose headers and body have not all arrived this long after it began gets 408 and its connection is closed', default: 30_000, parse: duration(100, 3_600_000) }),
  headersTimeoutMs: spec({ flag: '--headers-timeout-ms <duration>', env: 'JOBQ_HEADERS_TIMEOUT_MS', description: 'the same for the request line and headers alone (at most --request-timeout-ms)', default: 10_000, parse: duration(100, 3_600_000) }),
  keepAliveTimeoutMs: spec({ flag: '--keep-alive-timeout-ms <duration>', env: 'JOBQ_KEEP_ALIVE_TIMEOUT_MS', description: 'an idle keep-alive connection is closed after this long (keep it above a proxy\'s idle timeout)', default: 72_000, parse: duration(100, 3_600_000) }),
  idleTimeoutMs: spec({ flag: '--idle-timeout-ms <duration>', env: 'JOBQ_IDLE_TIMEOUT_MS', description: 'a connection with no traffic either way this long (a client that stops reading) is closed', default: 120_000, parse: duration(100, 3_600_000) }),
  maxConnections: spec({ flag: '--max-connections <n>', env: 'JOBQ_MAX_CONNECTIONS', description: 'connections the API holds at once; more are closed as they arrive', default: 10_000, parse: int(1, 1_000_000) }),
  // -- HTTP API: live events (issue #19; docs/events.md)
  eventsReplayEvents: spec<number>({ flag: '--events-replay-events <n>', env: 'JOBQ_EVENTS_REPLAY_EVENTS', description: 'events kept in memory so that a stream reconnecting with Last-Event-ID misses none', default: EVENT_DEFAULTS.replayEvents, parse: int(0, 1_000_000) }),
  eventsReplayMs: spec<number>({ flag: '--events-replay-ms <duration>', env: 'JOBQ_EVENTS_REPLAY_MS', description: 'and none older than this', default: EVENT_DEFAULTS.replayMs, parse: duration(0, 86_400_000) }),
  eventsReconcileMs: spec<number>({ flag: '--events-reconcile-ms <duration>', env: 'JOBQ_EVENTS_RECONCILE_MS', description: 'how often the jobs watched by id are re-read, so that a missed event still reaches its waiter', default: EVENT_DEFAULTS.reconcileMs, parse: duration(100, 600_000) }),
  eventsMaxStreams: spec<number>({ flag: '--events-max-streams <n>', env: 'JOBQ_EVENTS_MAX_STREAMS', description: 'event streams and long-polls held at once; more get 503 too_many_streams', default: EVENT_DEFAULTS.maxStreams, parse: int(0, 1_000_000) }),
  eventsHeartbeatMs: spec<number>({ flag: '--events-heartbeat-ms <duration>', env: 'JOBQ_EVENTS_HEARTBEAT_MS', description: 'a comment line on idle event streams this often, so that proxies keep them open (shorter than --idle-timeout-ms)', default: EVENT_DEFAULTS.heartbeatMs, parse: duration(100, 600_000) }),
  eventsStreamBuffer: spec<number>({ flag: '--events-stream-buffer <n>', env: 'JOBQ_EVENTS_STREAM_BUFFER', description: 'events a stream may have waiting for a slow client; one more closes it (the client reconnects and replays)', default: EVENT_DEFAULTS.streamBuffer, parse: int(1, 1_000_000) }),
  // -- worker
  concurrency: spec({ flag: '--concurrency <n>', env: 'JOBQ_CONCURRENCY', description: 'jobs run at once by this process', default: 10, parse: int(1, 10_000) }),
  queues: spec({ flag: '--queues <names>', env: 'JOBQ_QUEUES', description: 'comma-separated queues to work; empty: all', default: [] as string[], parse: list, shownDefault: 'all' }),
  // The random part keeps the default unique where hostname:pid repeats (containers: every one is pid 1 on its own host name, or the same one).
  workerId: spec({ flag: '--worker-id <id>', env: 'JOBQ_WORKER_ID', description: 'name of this worker in locked_by; a start is refused while a live worker has it', default: `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`, parse: text, shownDefault: 'hostname:pid:random' }),
  leaseMs: spec({ flag: '--lease-ms <duration>', env: 'JOBQ_LEASE_MS', description: 'a running job whose lease is older is recovered', default: 30_000, parse: duration(1_000) }),
  heartbeatMs: spec<number | undefined>({ flag: '--heartbeat-ms <duration>', env: 'JOBQ_HEARTBEAT_MS', description: 'how often leases are renewed, shorter than --lease-ms; unset: a third of --lease-ms, at most 5000', default: undefined, parse: duration(100) }),
  pollIntervalMs: spec({ flag: '--poll-interval-ms <duration>', env: 'JOBQ_POLL_INTERVAL_MS', description: 'fallback poll when no notification arrives', default: 1_000, parse: duration(10) }),
  shutdownGraceMs: spec({ flag: '--shutdown-grace-ms <duration>', env: 'JOBQ_SHUTDOWN_GRACE_MS', description: 'time running jobs get to finish on SIGTERM', default: 30_000, parse: duration(0) }),
  timeoutGraceMs: spec({ flag: '--timeout-grace-ms <duration>', env: 'JOBQ_TIMEOUT_GRACE_MS', description: 'after a timeout, how long a handler may ignore its signal before its slot is freed', default: 5_000, parse: duration(0) }),
  maxBlockedMs: spec<number | undefined>({ flag: '--max-blocked-ms <duration>', env: 'JOBQ_MAX_BLOCKED_MS', description: 'while a handler blocks the event loop (or the worker\'s own renewal is late), leases are kept this long at most, then left to the sweeper', default: undefined, parse: duration(100), shownDefault: 'largest timeout of the jobs held + --timeout-grace-ms' }),
  scheduler: spec({ flag: '--scheduler [bool]', env: 'JOBQ_SCHEDULER', description: "fire schedules' ticks from this worker (each tick fires once whichever worker fires it)", default: true, parse: bool }),
  metricsHost: spec({ flag: '--metrics-host <host>', env: 'JOBQ_METRICS_HOST', description: 'address of the worker metrics server', default: '127.0.0.1', parse: text }),
  metricsPort: spec<number | undefined>({ flag: '--metrics-port <port>', env: 'JOBQ_METRICS_PORT', description: 'serve /metrics of a worker on this port', default: undefined, parse: int(0, 65535), shownDefault: 'off' }),
  retention: spec<Retention>({ flag: '--retention <spec>', env: 'JOBQ_RETENTION', description: 'how long finished jobs are kept: a duration (30d) or per status (succeeded=7d,failed=30d,cancelled=30d); never keeps them', default: DEFAULT_RETENTION, parse: (raw) => {
    try {
      return parseRetention(raw);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }, shownDefault: formatRetention(DEFAULT_RETENTION) }),
  backoffBaseMs: spec({ flag: '--backoff-base-ms <duration>', env: 'JOBQ_BACKOFF_BASE_MS', description: 'smallest retry delay', default: 1_000, parse: duration(1) }),
  backoffCapMs: spec({ flag: '--backoff-cap-ms <duration>', env: 'JOBQ_BACKOFF_CAP_MS', description: 'largest retry delay', default: 3_600_000, parse: duration(1) }),
  // -- built-in kinds
  smtpUrl: spec<string | undefined>({ flag: '--smtp-url <url>', env: 'SMTP_URL', description: 'send_email through this SMTP server; unset: write .eml files to the outbox', default: undefined, parse: optionalText, shownDefault: 'outbox' }),
  outboxDir: spec<string | undefined>({ flag: '--outbox-dir <dir>', env: 'JOBQ_OUTBOX_DIR', description: 'where send_email writes without SMTP (default: <data-dir>/outbox)', default: undefined, parse: optionalText, shownDefault: '<data-dir>/outbox' }),
  mailFrom: spec({ flag: '--mail-from <address>', env: 'JOBQ_MAIL_FROM', description: 'default sender of send_email', default: 'jobq@localhost', parse: text }),
  // -- metrics
  metricsQueues: spec({ flag: '--metrics-queues <names>', env: 'JOBQ_METRICS_QUEUES', description: 'queues that always keep their own metrics label (besides default and --queues)', default: [] as string[], parse: list, shownDefault: 'none' }),
  metricsMaxQueues: spec({ flag: '--metrics-max-queues <n>', env: 'JOBQ_METRICS_MAX_QUEUES', description: 'other queue names that get a metrics label; later ones count as "(other)"', default: 100, parse: int(0, 10_000) }),
  // -- recurring jobs (issue #18)
  schedulesFile: spec<string | undefined>({ flag: '--schedules <file>', env: 'JOBQ_SCHEDULES', description: 'a JSON file {"schedules": [{name, cron or every, job, ...}]} applied at start: its schedules are added or changed, those of an earlier file it no longer lists removed', default: undefined, parse: optionalText, shownDefault: 'none' }),
  httpAllowHosts: spec({ flag: '--http-allow-hosts <hosts>', env: 'JOBQ_HTTP_ALLOW_HOSTS', description: 'hosts the http kind may call although private or loopback', default: [] as string[], parse: list, shownDefault: 'none' }),
} as const;

export type SettingName = keyof typeof SETTINGS;
/** Settings as given: unset ones with their defaults, derived ones (heartbeatMs) possibly undefined. */
export type ConfigInput = { -readonly [K in SettingName]: (typeof SETTINGS)[K]['default'] };
export type Config = ConfigInput & { outboxDir: string; heartbeatMs: number };

/** Which settings each command takes. */
const COMMON: SettingName[] = ['databaseUrl', 'schema', 'dataDir', 'migrate', 'migrateLockTimeoutMs', 'logLevel', 'poolSize', 'queryTimeoutMs', 'statementTimeoutMs'];
/** Settings of every command that starts a service (serve, api, worker). */
const SERVICE: SettingName[] = ['schedulesFile', 'listenUrl', 'logStore'];
const METRICS: SettingName[] = ['metricsQueues', 'metricsMaxQueues'];
const API: SettingName[] = [
  'host', 'port', 'apiKeys', 'apiKeysFile', 'metricsAuth', 'insecure', 'bodyLimit', 'ui',
  'requestTimeoutMs', 'headersTimeoutMs', 'keepAliveTimeoutMs', 'idleTimeoutMs', 'maxConnections',
  'eventsReplayEvents', 'eventsReplayMs', 'eventsReconcileMs', 'eventsMaxStreams', 'eventsHeartbeatMs', 'eventsStreamBuffer',
];
const WORKER: SettingName[] = [
  'concurrency', 'queues', 'workerId', 'leaseMs', 'heartbeatMs', 'pollIntervalMs', 'shutdownGraceMs', 'timeoutGraceMs', 'maxBlockedMs', 'scheduler',
  'backoffBaseMs', 'backoffCapMs', 'retention', 'smtpUrl', 'outboxDir', 'mailFrom', 'httpAllowHosts',
];
export const COMMAND_SETTINGS = {
  migrate: COMMON,
  api: [...COMMON, ...SERVICE, ...API, ...METRICS, 'readTimeoutMs', 'backoffBaseMs', 'backoffCapMs', 'smtpUrl', 'outboxDir', 'mailFrom', 'httpAllowHosts'],
  worker: [...COMMON, ...SERVICE, ...WORKER, ...METRICS, 'metricsHost', 'metricsPort', 'metricsAuth', 'apiKeys', 'apiKeysFile', 'insecure'],
  serve: [...COMMON, ...SERVICE, ...API, ...WORKER, ...METRICS, 'readTimeoutMs'],
} satisfies Record<string, SettingName[]>;

/** An option whose value lands under its setting's name whatever its flag says (`--schedules` sets schedulesFile). */
class SettingOption extends Option {
  constructor(
    flags: string,
    description: string,
    private readonly setting: SettingName,
  ) {
    super(flags, description);
  }

  override attributeName(): string {
    return this.setting;
  }
}

/**
 * Commander options for these settings: flag, then environment variable, then default. A boolean
 * setting (`--migrate [bool]`) is also true given alone, and has its `--no-` form: `--migrate`,
 * `--no-migrate`, and, as before, `--migrate true|false`.
 */
export function cliOptions(names: SettingName[]): Option[] {
  return names.flatMap((name) => {
    const s = SETTINGS[name] as Spec<unknown>;
    const opt = new SettingOption(s.flag, s.description, name).env(s.env).argParser((raw: string) => s.parse(raw));
    const withDefault = s.default === undefined && !s.shownDefault ? opt : opt.default(s.default, s.shownDefault ?? JSON.stringify(s.default));
    // A setting with an optional value (`[bool]`, `[mode]`) has its --no- form, whatever its default.
    if (!/ \[\w+\]$/.test(s.flag)) return [withDefault];
    return [withDefault, new SettingOption(s.flag.replace(/^--(\S+).*$/, '--no-$1'), `the same as ${s.flag.split(' ')[0]} false`, name)];
  });
}

/**
 * A complete, checked configuration: defaults, then the environment, then `overrides`.
 * Throws an Error naming the variable when a value is invalid.
 */
export function resolveConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  return finishConfig({ ...readSettings(env), ...stripUndefined(overrides) });
}

/** Defaults, then the environment: settings as given, not yet derived or checked across fields. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): ConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(SETTINGS) as [SettingName, Spec<unknown>][]) {
    const raw = env[s.env];
    try {
      out[name] = raw !== undefined && raw !== '' ? s.parse(raw) : s.default;
    } catch (err) {
      throw new Error(`${s.env}: ${(err as Error).message}`);
    }
  }
  return out as ConfigInput;
}

/** The heartbeat when none is given: a third of the lease, at most 5 s (never under the 100 ms floor). */
export function defaultHeartbeatMs(leaseMs: number): number {
  return Math.max(100, Math.min(5_000, Math.floor(leaseMs / 3)));
}

/**
 * Derived values and cross-field checks, shared by the CLI and resolveConfig. A heartbeat given
 * explicitly must be shorter than the lease; one not given follows the lease (`defaultHeartbeatMs`).
 */
export function finishConfig(c: ConfigInput & { outboxDir?: string | undefined }): Config {
  const config: Config = {
    ...c,
    outboxDir: c.outboxDir ?? path.join(c.dataDir, 'outbox'),
    heartbeatMs: c.heartbeatMs ?? defaultHeartbeatMs(c.leaseMs),
  };
  if (config.heartbeatMs >= config.leaseMs) throw new Error(`--heartbeat-ms (${config.heartbeatMs}) must be shorter than --lease-ms (${config.leaseMs})`);
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new Error(`--headers-timeout-ms (${config.headersTimeoutMs}) must be at most --request-timeout-ms (${config.requestTimeoutMs})`);
  }
  if (config.eventsHeartbeatMs >= config.idleTimeoutMs) {
    throw new Error(`--events-heartbeat-ms (${config.eventsHeartbeatMs}) must be shorter than --idle-timeout-ms (${config.idleTimeoutMs}): an idle stream would be closed between heartbeats`);
  }
  if (config.backoffCapMs < config.backoffBaseMs) throw new Error('--backoff-cap-ms must be at least --backoff-base-ms');
  return config;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
