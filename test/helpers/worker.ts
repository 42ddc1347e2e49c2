/** In-process workers on a fresh database, with test-controlled kinds, stopped after each test. */
import { after } from 'node:test';
import pino from 'pino';
import { Type } from '@sinclair/typebox';
import type { HandlerContext, KindRegistry } from '../../src/kinds/registry.ts';
import { Queue, type QueueOptions } from '../../src/queue/queue.ts';
import { Worker, type WorkerOptions } from '../../src/worker/worker.ts';
import { freshDatabase, testKinds, type TestDatabase } from './db.ts';

export const silent = pino({ level: 'silent' });

export type ProbeHandler = (payload: { n?: number }, ctx: HandlerContext) => Promise<unknown> | unknown;

/** Built-in kinds plus `probe`, whose handler the test sets. */
export function kindsWithProbe(handler: ProbeHandler): KindRegistry {
  return testKinds().register({
    name: 'probe',
    payloadSchema: Type.Object({ n: Type.Optional(Type.Integer()) }),
    timeoutMs: 60_000,
    handler: (p, ctx) => handler(p, ctx),
  });
}

export interface Setup {
  db: TestDatabase;
  queue: Queue;
  worker(overrides?: Partial<WorkerOptions>): Promise<Worker>;
}

export async function setup(kinds: KindRegistry = testKinds(), queueOptions: Partial<QueueOptions> = {}): Promise<Setup> {
  const workers: Worker[] = [];
  // Registered before the database's own hook, so workers stop before their database is dropped.
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds, ...queueOptions });
  return {
    db,
    queue,
    async worker(overrides = {}) {
      const w = new Worker({
        queue,
        databaseUrl: db.url,
        listenUrl: db.listenUrl,
        logger: silent,
        workerId: `w${workers.length + 1}`,
        concurrency: 10,
        queues: [],
        leaseMs: 30_000,
        heartbeatMs: 5_000,
        pollIntervalMs: 60_000, // long: tests that need a prompt start prove NOTIFY works
        shutdownGraceMs: 5_000,
        timeoutGraceMs: 1_000,
        ...overrides,
      });
      workers.push(w);
      await w.start();
      return w;
    },
  };
}
