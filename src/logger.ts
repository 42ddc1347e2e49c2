/** pino to stdout: JSON lines, or pretty lines when stdout is a terminal. Secrets are redacted. */
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  '*.password',
  'password',
  'databaseUrl',
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
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}

export type { Logger };
