/**
 * `jobq worker` with one more kind, `probe`, for the flow-control tests on real processes: each run
 * writes a line when its handler starts and one when it ends, with the time (epoch milliseconds, to the
 * microsecond: performance.timeOrigin + performance.now()), so the test sees what ran when from the
 * handlers themselves, not from the database. The handler sleeps `ms`, or `first_ms` on its first
 * attempt (a job that hangs until its worker is killed, then runs short). Settings come from the
 * environment as for `jobq worker`.
 *
 *   node --import tsx test/helpers/flow-worker.ts
 */
import { writeSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { resolveConfig } from '../../src/config.ts';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { createLogger } from '../../src/logger.ts';
import { startService, stopOnSignals } from '../../src/server.ts';

export interface ProbeLine {
  msg: 'probe';
  ev: 'start' | 'end';
  id: string;
  queue: string;
  attempt: number;
  worker: string;
  /** Epoch milliseconds, fractional. */
  t: number;
}

const config = resolveConfig();
const logger = createLogger(config.logLevel, { pretty: false });
const now = () => performance.timeOrigin + performance.now();

const kinds = new KindRegistry(builtinKinds({ outboxDir: config.outboxDir, httpAllowHosts: [] })).register({
  name: 'probe',
  payloadSchema: Type.Object({ ms: Type.Integer({ minimum: 0 }), first_ms: Type.Optional(Type.Integer({ minimum: 0 })) }),
  timeoutMs: 120_000,
  handler: async (p: { ms: number; first_ms?: number }, ctx) => {
    const line = (ev: 'start' | 'end') =>
      writeSync(1, `${JSON.stringify({ msg: 'probe', ev, id: ctx.job.id, queue: ctx.job.queue, attempt: ctx.job.attempt, worker: config.workerId, t: now() } satisfies ProbeLine)}\n`);
    line('start');
    await new Promise((r) => setTimeout(r, ctx.job.attempt === 1 && p.first_ms !== undefined ? p.first_ms : p.ms));
    line('end');
  },
});

const signals = stopOnSignals(logger);
signals.started(await startService(config, logger, { api: false, worker: true, kinds }));
