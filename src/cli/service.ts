/**
 * The commands that run jobq itself on a database:
 *   jobq serve     API and a worker in one process (what `npm start` runs)
 *   jobq api       the HTTP API only
 *   jobq worker    a worker only
 *   jobq migrate   apply the database migrations and exit
 * Every option also reads an environment variable; `jobq <command> --help` lists both and the defaults.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { cliOptions, COMMAND_SETTINGS, type Config, type ConfigInput, finishConfig, readSettings } from '../config.ts';
import { type Database, openDatabase } from '../db/index.ts';
import { createLogger } from '../logger.ts';
import { migrate } from '../queue/migrate.ts';
import { reloadOnHangup, startService, stopOnSignals } from '../server.ts';
import { CliExit, EXIT, usage } from './exit.ts';

const FORMS = `
Durations (every --*-ms option, and those in --retention) are written 250ms, 30s, 5m, 2h, 7d, or as a
plain number of milliseconds. Yes/no options are given alone (--insecure), negated (--no-insecure), or
with a value (--insecure true|false); their environment variables take true/false, 1/0, yes/no, on/off.`;

export function addServiceCommands(program: Command): void {
  const command = (name: keyof typeof COMMAND_SETTINGS, description: string, run: (config: Config) => Promise<void>) => {
    const cmd = program.command(name).description(description).addHelpText('after', FORMS);
    for (const opt of cliOptions(COMMAND_SETTINGS[name])) cmd.addOption(opt);
    cmd.action(async (opts: Partial<Config>) => {
      let config: Config;
      try {
        // Settings this command has no flag for keep their defaults; derived ones are derived from what was given.
        config = finishConfig({ ...readSettings({}), ...opts } as ConfigInput);
      } catch (err) {
        throw usage((err as Error).message);
      }
      await run(config);
    });
  };

  command('serve', 'run the HTTP API and a worker in one process', (c) => serve(c, { api: true, worker: true }));
  command('api', 'run the HTTP API', (c) => serve(c, { api: true, worker: false }));
  command('worker', 'run a worker', (c) => serve(c, { api: false, worker: true }));
  command('migrate', 'apply the database migrations, then exit', async (config) => {
    const logger = createLogger(config.logLevel);
    let db: Database | undefined;
    try {
      db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, max: 1, log: (m) => logger.info(m) });
      const { applied, version } = await migrate(db.pool, undefined, { lockTimeoutMs: config.migrateLockTimeoutMs, schema: config.schema });
      logger.info({ applied, version, schema: config.schema }, applied.length ? 'migrations applied' : 'schema already up to date');
    } catch (err) {
      logger.fatal({ err: (err as Error).message, cause: causeOf(err) }, 'migration failed');
      throw new CliExit(EXIT.failed);
    } finally {
      await db?.close();
    }
  });
}

/** Starts the service; it then runs until a signal stops it (server.ts). */
async function serve(config: Config, what: { api: boolean; worker: boolean }): Promise<void> {
  const logger = createLogger(config.logLevel);
  const signals = stopOnSignals(logger);
  const hangup = what.api ? reloadOnHangup(logger) : undefined;
  try {
    const service = await startService(config, logger, what);
    signals.started(service);
    hangup?.started(service);
  } catch (err) {
    logger.fatal({ err: (err as Error).message, cause: causeOf(err) }, 'failed to start');
    await sleep(50); // let the log line out
    process.exit(1);
  }
}

function causeOf(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown })?.cause;
  return cause instanceof Error ? cause.message : undefined;
}
