/**
 * graphile-worker 0.18. Finished jobs are deleted, so it keeps none.
 * - best: the preset its performance docs use: localQueue.size 500 (fetch and lock 500 jobs at once),
 *   completeJobBatchDelay 0 and failJobBatchDelay 0 (batch completions that arrive together);
 * - defaults: no local queue, one completion statement per job, pool of 10.
 * `concurrency` = the run's concurrency. Its logger is set to warn: by default it logs a line per job.
 */
import pg from 'pg';
import { Logger, makeWorkerUtils, run, runMigrations, type WorkerUtils } from 'graphile-worker';
import type { BenchPayload, CreateDriver, Driver, StartWorkerOptions, Target, Variant, WorkerHandle } from './types.ts';

export const createDriver: CreateDriver = (target, variant) => new GraphileDriver(target, variant);

const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`[graphile-worker] ${level}: ${message}`);
});

class GraphileDriver implements Driver {
  readonly #target: Target;
  readonly #best: boolean;
  readonly #sql: pg.Pool;
  #utils: Promise<WorkerUtils> | undefined;

  constructor(target: Target, variant: Variant) {
    this.#target = target;
    this.#best = variant === 'best';
    this.#sql = new pg.Pool({ connectionString: target.pgUrl, max: 1 });
  }

  #workerUtils(): Promise<WorkerUtils> {
    this.#utils ??= makeWorkerUtils({ connectionString: this.#target.pgUrl, logger });
    return this.#utils;
  }

  async install(): Promise<void> {
    await runMigrations({ connectionString: this.#target.pgUrl, logger });
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await (await this.#workerUtils()).addJob(this.#target.queue, payload);
  }

  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await (await this.#workerUtils()).addJobs(payloads.map((payload) => ({ identifier: this.#target.queue, payload })));
  }

  async remaining(): Promise<number> {
    const { rows } = await this.#sql.query<{ n: number }>('SELECT count(*)::int AS n FROM graphile_worker._private_jobs');
    return rows[0]!.n;
  }

  async reset(): Promise<void> {
    await this.#sql.query('TRUNCATE graphile_worker._private_jobs');
  }

  /** Jobs live in _private_jobs from enqueue to completion (a delete); named queues' rows in _private_job_queues. */
  readonly hotTables = ['graphile_worker._private_jobs', 'graphile_worker._private_job_queues'];

  async addFinished(): Promise<string | undefined> {
    return 'graphile-worker deletes a job when it completes and keeps no finished rows: this is its 1 proc × 10 figure';
  }

  async startWorker(opts: StartWorkerOptions): Promise<WorkerHandle> {
    const runner = await run({
      connectionString: this.#target.pgUrl,
      concurrency: opts.concurrency,
      noHandleSignals: true,
      logger,
      taskList: {
        [this.#target.queue]: async (payload) => {
          opts.onJob(payload as BenchPayload);
        },
      },
      ...(this.#best ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } } : {}),
    });
    return { stop: () => runner.stop() };
  }

  async close(): Promise<void> {
    if (this.#utils) await (await this.#utils).release();
    await this.#sql.end();
  }
}
