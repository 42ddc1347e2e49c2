/**
 * pg-boss 12. Worker processes run an instance with pg-boss's defaults (supervision, maintenance, a
 * pool of 10); the orchestrator's instance only installs, enqueues and counts (no supervision or
 * scheduling, so that it adds no load of its own).
 * - best: `work()` with batchSize 50 and burstWhenBatchFull (fetch again at once while batches come
 *   back full), the instance's useListenNotify and the queue's `notify: true`;
 * - defaults: batchSize 1, 2 s polling, no NOTIFY.
 * In both, `localConcurrency` = the run's concurrency (that many fetch loops in the process).
 */
import pg from 'pg';
import { PgBoss, type WorkOptions } from 'pg-boss';
import type { BenchPayload, CreateDriver, Driver, StartWorkerOptions, Target, Variant, WorkerHandle } from './types.ts';

export const createDriver: CreateDriver = (target, variant) => new PgBossDriver(target, variant);

class PgBossDriver implements Driver {
  readonly #target: Target;
  readonly #best: boolean;
  readonly #sql: pg.Pool;
  #admin: Promise<PgBoss> | undefined;

  constructor(target: Target, variant: Variant) {
    this.#target = target;
    this.#best = variant === 'best';
    this.#sql = new pg.Pool({ connectionString: target.pgUrl, max: 1 });
  }

  #boss(): Promise<PgBoss> {
    this.#admin ??= (async () => {
      const boss = new PgBoss({ connectionString: this.#target.pgUrl, supervise: false, schedule: false });
      boss.on('error', (err) => console.error(`[pg-boss admin] ${String(err)}`));
      await boss.start();
      return boss;
    })();
    return this.#admin;
  }

  async install(): Promise<void> {
    const boss = await this.#boss();
    await boss.createQueue(this.#target.queue, this.#best ? { notify: true } : {});
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await (await this.#boss()).send(this.#target.queue, payload);
  }

  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await (await this.#boss()).insert(this.#target.queue, payloads.map((data) => ({ data })));
  }

  async remaining(): Promise<number> {
    const { rows } = await this.#sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state < 'completed'`,
      [this.#target.queue],
    );
    return rows[0]!.n;
  }

  async reset(): Promise<void> {
    await this.#sql.query('TRUNCATE pgboss.job CASCADE');
  }

  async addFinished(count: number): Promise<string | undefined> {
    // pg-boss keeps completed jobs in its job table for deleteAfterSeconds (7 days by default).
    await this.#sql.query(
      `INSERT INTO pgboss.job (name, data, state, created_on, started_on, completed_on, keep_until)
       SELECT $1, '{}', 'completed', now() - interval '2 hours', now() - interval '1 hour', now() - interval '1 hour', now() + interval '14 days'
         FROM generate_series(1, $2::int)`,
      [this.#target.queue, count],
    );
    return undefined;
  }

  async startWorker(opts: StartWorkerOptions): Promise<WorkerHandle> {
    const boss = new PgBoss({ connectionString: this.#target.pgUrl, ...(this.#best ? { useListenNotify: true } : {}) });
    boss.on('error', (err) => console.error(`[pg-boss] ${String(err)}`));
    await boss.start();
    const work: WorkOptions = this.#best
      ? { batchSize: 50, burstWhenBatchFull: true, localConcurrency: opts.concurrency }
      : { localConcurrency: opts.concurrency };
    await boss.work<BenchPayload>(this.#target.queue, work, async (jobs) => {
      for (const job of jobs) opts.onJob(job.data);
    });
    return { stop: () => boss.stop({ graceful: true, close: true, timeout: 30_000 }) };
  }

  async close(): Promise<void> {
    if (this.#admin) await (await this.#admin).stop({ graceful: false, close: true });
    await this.#sql.end();
  }
}
