/**
 * `jobq worker` with one more kind, for tests of handlers that block the event loop (issue #14, item 1):
 * `block` waits `wait_ms` (so the worker claims, runs and buffers other jobs meanwhile), then runs
 * synchronously for `block_ms` (a CPU-bound handler: no timer, heartbeat or I/O of this thread runs).
 * Settings come from the environment as for `jobq worker` (JOBQ_MAX_BLOCKED_MS among them). It logs
 * `blocking` and `unblocked` around the busy loop, written synchronously.
 *
 *   node --import tsx test/helpers/blocking-worker.ts
 */
import { writeSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { resolveConfig } from '../../src/config.ts';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { createLogger } from '../../src/logger.ts';
import { startService, stopOnSignals } from '../../src/server.ts';

const config = resolveConfig();
const logger = createLogger(config.logLevel, { pretty: false });
const line = (msg: string, extra: Record<string, unknown> = {}) =>
  writeSync(1, `${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, msg, ...extra })}\n`);

const kinds = new KindRegistry(builtinKinds({ outboxDir: config.outboxDir, httpAllowHosts: config.httpAllowHosts })).register({
  name: 'block',
  payloadSchema: Type.Object({ wait_ms: Type.Integer({ minimum: 0 }), block_ms: Type.Integer({ minimum: 0 }) }),
  timeoutMs: 60_000,
  handler: async (p: { wait_ms: number; block_ms: number }, ctx) => {
    await new Promise((r) => setTimeout(r, p.wait_ms));
    line('blocking', { job_id: ctx.job.id, attempt: ctx.job.attempt });
    const end = Date.now() + p.block_ms;
    while (Date.now() < end) {
      // CPU-bound: the event loop does nothing else
    }
    line('unblocked', { job_id: ctx.job.id });
    return { blocked_ms: p.block_ms };
  },
});

const signals = stopOnSignals(logger);
signals.started(await startService(config, logger, { api: false, worker: true, kinds }));
