/**
 * `jobq worker` with one more kind, `step`, for the flows tests on real processes (test/worker/flows-*.ts):
 * each run writes a line when its handler starts (with what ctx.parents() gave, when the payload asks)
 * and one when it ends, with the time (epoch milliseconds, fractional), so the test sees what ran when
 * from the handlers themselves. The handler sleeps `ms`, then fails for good when `fail`, else returns
 * `{ n }`. Settings come from the environment as for `jobq worker`.
 *
 *   node --import tsx test/helpers/flows-worker.ts
 */
import { writeSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { resolveConfig } from '../../src/config.ts';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry, type ParentJob, PermanentError } from '../../src/kinds/registry.ts';
import { createLogger } from '../../src/logger.ts';
import { startService, stopOnSignals } from '../../src/server.ts';

export interface StepLine {
  msg: 'step';
  ev: 'start' | 'end';
  id: string;
  n: number;
  attempt: number;
  worker: string;
  /** Epoch milliseconds, fractional. */
  t: number;
  /** On a start line, when the payload asked for them. */
  parents?: ParentJob[];
}

export interface StepPayload {
  n: number;
  ms: number;
  fail?: boolean;
  parents?: boolean;
}

const config = resolveConfig();
const logger = createLogger(config.logLevel, { pretty: false });
const now = () => performance.timeOrigin + performance.now();

const kinds = new KindRegistry(builtinKinds({ outboxDir: config.outboxDir, httpAllowHosts: [] })).register({
  name: 'step',
  payloadSchema: Type.Object({ n: Type.Integer(), ms: Type.Integer({ minimum: 0 }), fail: Type.Optional(Type.Boolean()), parents: Type.Optional(Type.Boolean()) }),
  timeoutMs: 60_000,
  handler: async (p: StepPayload, ctx) => {
    const line = (ev: 'start' | 'end', extra: Partial<StepLine> = {}) =>
      writeSync(1, `${JSON.stringify({ msg: 'step', ev, id: ctx.job.id, n: p.n, attempt: ctx.job.attempt, worker: config.workerId, t: now(), ...extra } satisfies StepLine)}\n`);
    line('start', p.parents ? { parents: await ctx.parents() } : {});
    await new Promise((r) => setTimeout(r, p.ms));
    line('end');
    if (p.fail) throw new PermanentError(`step ${p.n} fails`);
    return { n: p.n };
  },
});

const signals = stopOnSignals(logger);
signals.started(await startService(config, logger, { api: false, worker: true, kinds }));
