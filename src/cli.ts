#!/usr/bin/env node
/**
 * The `jobq` command: running jobq (cli/service.ts: serve, api, worker, migrate) and operating a
 * running one over its HTTP API (cli/ops.ts: enqueue, get, list, cancel, retry, stats, kinds; cli/watch.ts: watch;
 * cli/queues.ts: queue list, get, set, pause, resume; cli/schedules.ts: schedule list, get, set, delete, trigger,
 * enable, disable).
 * Exit codes: cli/exit.ts.
 */
import { Command } from 'commander';
import { runCommand } from './cli/exit.ts';
import { processIo } from './cli/io.ts';
import { addOpsCommands } from './cli/ops.ts';
import { addQueueCommands } from './cli/queues.ts';
import { addScheduleCommands } from './cli/schedules.ts';
import { addServiceCommands } from './cli/service.ts';
import { addWatchCommand } from './cli/watch.ts';
import { VERSION } from './version.ts';

const program = new Command('jobq')
  .description('PostgreSQL-backed job queue: HTTP API, SKIP LOCKED workers, retries with jitter')
  .version(VERSION)
  .configureHelp({ sortOptions: false });
addServiceCommands(program);
addOpsCommands(program, processIo);
addQueueCommands(program, processIo);
addScheduleCommands(program, processIo);
addWatchCommand(program, processIo);

process.exitCode = await runCommand(program, process.argv, processIo);
