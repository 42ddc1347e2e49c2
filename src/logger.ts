/**
 * pino to stdout: JSON lines, or pretty lines when stdout is a terminal and pino-pretty is installed
 * (a development dependency: a production install logs JSON lines). Secrets are redacted.
 */
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  '*.password',
  'password',
  'databaseUrl',
  'listenUrl',
  'smtpUrl',
  'apiKeys',
  // node-postgres settings and environment variables that hold a secret, wherever they are logged
  'connectionString',
  '*.connectionString',
  'sslpassword',
  '*.sslpassword',
  'PGPASSWORD',
  '*.PGPASSWORD',
];

export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const pretty = (opts.pretty ?? process.stdout.isTTY === true) && prettyInstalled();
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}

function prettyInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export type { Logger };
