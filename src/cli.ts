#!/usr/bin/env node
/**
 * The `jobq` command.
 *   jobq serve     API and a worker in one process (what `npm start` runs)
 *   jobq api       the HTTP API only
 *   jobq worker    a worker only
 *   jobq migrate   apply the database migrations and exit
 * Every option also reads an environment variable; `jobq <command> --help` lists both and the defaults.
 */
import { Command } from 'commander';
import { cliOptions, COMMAND_SETTINGS, type Config, type ConfigInput, finishConfig, readSettings } from './config.ts';
import { openDatabase } from './db/index.ts';
import { createLogger } from './logger.ts';
import { migrate } from './queue/migrate.ts';
import { reloadOnHangup, startService, stopOnSignals } from './server.ts';
import { VERSION } from './version.ts';

const program = new Command('jobq')
  .description('PostgreSQL-backed job queue: HTTP API, SKIP LOCKED workers, retries with jitter')
  .version(VERSION)
  .showHelpAfterError()
  .configureHelp({ sortOptions: false });

function command(name: keyof typeof COMMAND_SETTINGS, description: string, run: (config: Config) => Promise<void>): void {
  const cmd = program.command(name).description(description);
  for (const opt of cliOptions(COMMAND_SETTINGS[name])) cmd.addOption(opt);
  cmd.action(async (opts: Partial<Config>) => {
    let config: Config;
    try {
      // Settings this command has no flag for keep their defaults; derived ones are derived from what was given.
      config = finishConfig({ ...readSettings({}), ...opts } as ConfigInput);
    } catch (err) {
      cmd.error(`error: ${(err as Error).message}`);
    }
    await run(config!);
  });
}

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
    await new Promise((r) => setTimeout(r, 50)); // let the log line out
    process.exit(1);
  }
}

command('serve', 'run the HTTP API and a worker in one process', (c) => serve(c, { api: true, worker: true }));
command('api', 'run the HTTP API', (c) => serve(c, { api: true, worker: false }));
command('worker', 'run a worker', (c) => serve(c, { api: false, worker: true }));
command('migrate', 'apply the database migrations, then exit', async (config) => {
  const logger = createLogger(config.logLevel);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, max: 1, log: (m) => logger.info(m) });
  try {
    const { applied, version } = await migrate(db.pool, undefined, { lockTimeoutMs: config.migrateLockTimeoutMs });
    logger.info({ applied, version }, applied.length ? 'migrations applied' : 'schema already up to date');
  } catch (err) {
    logger.fatal({ err: (err as Error).message, cause: causeOf(err) }, 'migration failed');
    process.exitCode = 1;
  } finally {
    await db.close();
  }
});

function causeOf(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown })?.cause;
  return cause instanceof Error ? cause.message : undefined;
}

await program.parseAsync(process.argv);
