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
  /**
   * Resolves once a worker of this setup has finished `jobId` (its `job:finish`): the outcome is written
   * and, after that write's reply, its event handed to the publisher, its metrics counted, its span
   * ended. Waiting for the row's status is not enough: the status commits before the worker reads the
   * reply. A job retried finishes once per attempt: `attempt` waits for that attempt (or a later one)
   * to finish, not the first.
   */
  finished(jobId: string, opts?: { attempt?: number; ms?: number }): Promise<void>;
}

/** How many finished jobs `Setup.finished` remembers (a test waits for a few, right after they run). */
const DONE_KEPT = 10_000;

export async function setup(kinds: KindRegistry = testKinds(), queueOptions: Partial<QueueOptions> = {}): Promise<Setup> {
  const workers: Worker[] = [];
  /**
   * The latest attempt of each job a worker of this setup finished: the latest DONE_KEPT jobs only, so
   * that a test of 100,000 jobs does not hold them all in the heap it may be measuring.
   */
  const done = new Map<string, number>();
  const waiting = new Map<string, { attempt: number; resolve: () => void }[]>();
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
      w.events.on('job:finish', ({ job }) => {
        done.set(job.id, Math.max(done.get(job.id) ?? 0, job.attempts));
        if (done.size > DONE_KEPT) done.delete(done.keys().next().value!);
        for (const waiter of waiting.get(job.id) ?? []) if (waiter.attempt <= job.attempts) waiter.resolve();
      });
      await w.start();
      return w;
    },
    finished(jobId, { attempt = 1, ms = 10_000 } = {}) {
      if ((done.get(jobId) ?? 0) >= attempt) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          attempt,
          resolve: () => {
            clearTimeout(timer);
            forget();
            resolve();
          },
        };
        const forget = () => {
          const left = (waiting.get(jobId) ?? []).filter((x) => x !== waiter);
          if (left.length > 0) waiting.set(jobId, left);
          else waiting.delete(jobId);
        };
        const timer = setTimeout(() => {
          forget();
          reject(new Error(`attempt ${attempt} of job ${jobId} did not finish within ${ms} ms`));
        }, ms);
        waiting.set(jobId, [...(waiting.get(jobId) ?? []), waiter]);
      });
    },
  };
}
