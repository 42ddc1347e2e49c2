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
const text = (raw: string): string => raw;
/** An empty value (`DATABASE_URL=`) means unset. */
const optionalText = (raw: string): string | undefined => (raw.trim() === '' ? undefined : raw);
const list = (raw: string): string[] => raw.split(',').map((s) => s.trim()).filter(Boolean);
const bool = (raw: string): boolean => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off|)$/i.test(raw)) return false;
  throw new InvalidArgumentError(`must be true or false, got "${raw}"`);
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
  dataDir: spec({ flag: '--data-dir <dir>', env: 'JOBQ_DATA_DIR', description: 'folder for the embedded PostgreSQL and the e-mail outbox', default: './.jobq', parse: text }),
  migrate: spec({ flag: '--migrate <bool>', env: 'JOBQ_MIGRATE', description: 'apply migrations at start', default: true, parse: bool }),
  logLevel: spec({ flag: '--log-level <level>', env: 'LOG_LEVEL', description: `log level (${LOG_LEVELS.join(', ')})`, default: 'info' as (typeof LOG_LEVELS)[number], parse: oneOf(LOG_LEVELS) }),
  poolSize: spec({ flag: '--pool-size <n>', env: 'JOBQ_POOL_SIZE', description: 'connections in the database pool', default: 10, parse: int(1, 1000) }),
  queryTimeoutMs: spec({ flag: '--query-timeout-ms <ms>', env: 'JOBQ_QUERY_TIMEOUT_MS', description: 'a query unanswered this long fails as database_unavailable', default: 5_000, parse: int(100) }),
  // -- HTTP API
  host: spec({ flag: '--host <host>', env: 'HOST', description: 'address the API listens on', default: '127.0.0.1', parse: text }),
  port: spec({ flag: '--port <port>', env: 'PORT', description: 'port the API listens on', default: 8080, parse: int(0, 65535) }),
  apiKeys: spec({ flag: '--api-keys <keys>', env: 'JOBQ_API_KEYS', description: 'comma-separated API keys; set: /v1 needs "Authorization: Bearer <key>"', default: [] as string[], parse: list, shownDefault: 'none' }),
  metricsAuth: spec({ flag: '--metrics-auth <bool>', env: 'JOBQ_METRICS_AUTH', description: '/metrics needs an API key too', default: false, parse: bool }),
  insecure: spec({ flag: '--insecure <bool>', env: 'JOBQ_INSECURE', description: 'allow a non-loopback address without API keys', default: false, parse: bool }),
  bodyLimit: spec({ flag: '--body-limit <bytes>', env: 'JOBQ_BODY_LIMIT', description: 'largest request body accepted', default: 1_048_576, parse: int(1024, 1024 ** 3) }),
  // -- worker
  concurrency: spec({ flag: '--concurrency <n>', env: 'JOBQ_CONCURRENCY', description: 'jobs run at once by this process', default: 10, parse: int(1, 10_000) }),
  queues: spec({ flag: '--queues <names>', env: 'JOBQ_QUEUES', description: 'comma-separated queues to work; empty: all', default: [] as string[], parse: list, shownDefault: 'all' }),
  // The random part keeps the default unique where hostname:pid repeats (containers: every one is pid 1 on its own host name, or the same one).
  workerId: spec({ flag: '--worker-id <id>', env: 'JOBQ_WORKER_ID', description: 'name of this worker in locked_by; a start is refused while a live worker has it', default: `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`, parse: text, shownDefault: 'hostname:pid:random' }),
  leaseMs: spec({ flag: '--lease-ms <ms>', env: 'JOBQ_LEASE_MS', description: 'a running job whose lease is older is recovered', default: 30_000, parse: int(1_000) }),
  heartbeatMs: spec({ flag: '--heartbeat-ms <ms>', env: 'JOBQ_HEARTBEAT_MS', description: 'how often leases are renewed', default: 5_000, parse: int(100) }),
  pollIntervalMs: spec({ flag: '--poll-interval-ms <ms>', env: 'JOBQ_POLL_INTERVAL_MS', description: 'fallback poll when no notification arrives', default: 1_000, parse: int(10) }),
  shutdownGraceMs: spec({ flag: '--shutdown-grace-ms <ms>', env: 'JOBQ_SHUTDOWN_GRACE_MS', description: 'time running jobs get to finish on SIGTERM', default: 30_000, parse: int(0) }),
  timeoutGraceMs: spec({ flag: '--timeout-grace-ms <ms>', env: 'JOBQ_TIMEOUT_GRACE_MS', description: 'after a timeout, how long a handler may ignore its signal before its slot is freed', default: 5_000, parse: int(0) }),
  metricsHost: spec({ flag: '--metrics-host <host>', env: 'JOBQ_METRICS_HOST', description: 'address of the worker metrics server', default: '127.0.0.1', parse: text }),
  metricsPort: spec<number | undefined>({ flag: '--metrics-port <port>', env: 'JOBQ_METRICS_PORT', description: 'serve /metrics of a worker on this port', default: undefined, parse: int(0, 65535), shownDefault: 'off' }),
  retention: spec<Retention>({ flag: '--retention <spec>', env: 'JOBQ_RETENTION', description: 'how long finished jobs are kept: a duration (30d) or per status (succeeded=7d,failed=30d,cancelled=30d); never keeps them', default: DEFAULT_RETENTION, parse: (raw) => {
    try {
      return parseRetention(raw);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }, shownDefault: formatRetention(DEFAULT_RETENTION) }),
  backoffBaseMs: spec({ flag: '--backoff-base-ms <ms>', env: 'JOBQ_BACKOFF_BASE_MS', description: 'smallest retry delay', default: 1_000, parse: int(1) }),
  backoffCapMs: spec({ flag: '--backoff-cap-ms <ms>', env: 'JOBQ_BACKOFF_CAP_MS', description: 'largest retry delay', default: 3_600_000, parse: int(1) }),
  // -- built-in kinds
  smtpUrl: spec<string | undefined>({ flag: '--smtp-url <url>', env: 'SMTP_URL', description: 'send_email through this SMTP server; unset: write .eml files to the outbox', default: undefined, parse: optionalText, shownDefault: 'outbox' }),
  outboxDir: spec<string | undefined>({ flag: '--outbox-dir <dir>', env: 'JOBQ_OUTBOX_DIR', description: 'where send_email writes without SMTP (default: <data-dir>/outbox)', default: undefined, parse: optionalText, shownDefault: '<data-dir>/outbox' }),
  mailFrom: spec({ flag: '--mail-from <address>', env: 'JOBQ_MAIL_FROM', description: 'default sender of send_email', default: 'jobq@localhost', parse: text }),
  httpAllowHosts: spec({ flag: '--http-allow-hosts <hosts>', env: 'JOBQ_HTTP_ALLOW_HOSTS', description: 'hosts the http kind may call although private or loopback', default: [] as string[], parse: list, shownDefault: 'none' }),
} as const;

export type SettingName = keyof typeof SETTINGS;
export type Config = { -readonly [K in SettingName]: (typeof SETTINGS)[K]['default'] } & { outboxDir: string };

/** Which settings each command takes. */
const COMMON: SettingName[] = ['databaseUrl', 'dataDir', 'migrate', 'logLevel', 'poolSize', 'queryTimeoutMs'];
const API: SettingName[] = ['host', 'port', 'apiKeys', 'metricsAuth', 'insecure', 'bodyLimit'];
const WORKER: SettingName[] = [
  'concurrency', 'queues', 'workerId', 'leaseMs', 'heartbeatMs', 'pollIntervalMs', 'shutdownGraceMs', 'timeoutGraceMs',
  'backoffBaseMs', 'backoffCapMs', 'retention', 'smtpUrl', 'outboxDir', 'mailFrom', 'httpAllowHosts',
];
export const COMMAND_SETTINGS = {
  migrate: COMMON,
  api: [...COMMON, ...API, 'backoffBaseMs', 'backoffCapMs', 'smtpUrl', 'outboxDir', 'mailFrom', 'httpAllowHosts'],
  worker: [...COMMON, ...WORKER, 'metricsHost', 'metricsPort'],
  serve: [...COMMON, ...API, ...WORKER],
} satisfies Record<string, SettingName[]>;

/** Commander options for these settings: flag, then environment variable, then default. */
export function cliOptions(names: SettingName[]): Option[] {
  return names.map((name) => {
    const s = SETTINGS[name] as Spec<unknown>;
    const opt = new Option(s.flag, s.description).env(s.env).argParser((raw: string) => s.parse(raw));
    return s.default === undefined && !s.shownDefault ? opt : opt.default(s.default, s.shownDefault ?? JSON.stringify(s.default));
  });
}

/**
 * A complete, checked configuration: defaults, then the environment, then `overrides`.
 * Throws an Error naming the variable when a value is invalid.
 */
export function resolveConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(SETTINGS) as [SettingName, Spec<unknown>][]) {
    const raw = env[s.env];
    try {
      out[name] = raw !== undefined && raw !== '' ? s.parse(raw) : s.default;
    } catch (err) {
      throw new Error(`${s.env}: ${(err as Error).message}`);
    }
  }
  return finishConfig({ ...out, ...stripUndefined(overrides) } as Config);
}

/** Derived values and cross-field checks, shared by the CLI and resolveConfig. */
export function finishConfig(c: Config): Config {
  const config = { ...c, outboxDir: c.outboxDir ?? path.join(c.dataDir, 'outbox') };
  if (config.heartbeatMs >= config.leaseMs) throw new Error(`--heartbeat-ms (${config.heartbeatMs}) must be shorter than --lease-ms (${config.leaseMs})`);
  if (config.backoffCapMs < config.backoffBaseMs) throw new Error('--backoff-cap-ms must be at least --backoff-base-ms');
  return config;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
