/**
 * BullMQ 6, on both of its backends: Redis (ioredis, the bench's own redis-server, a Redis database per
 * row) and PostgreSQL (its `createPostgresBackend`, schema `bullmq`, migrated on connect).
 * - best: `removeOnComplete: true` as a default job option (a finished job is deleted, nothing kept);
 * - defaults: finished jobs are kept (Redis: a hash per job plus the `completed` sorted set; PostgreSQL:
 *   rows in state 'completed').
 * Worker `concurrency` = the run's concurrency.
 */
import { createPostgresBackend, type Job, Queue, Worker, withBackend } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { BenchPayload, CreateDriver, Driver, StartWorkerOptions, Target, Variant, WorkerHandle } from './types.ts';

export const createDriver: CreateDriver = (target, variant) => new BullDriver(target, variant);

/** The part of Queue the bench uses, the same on both backends. */
interface QueueLike {
  add(name: string, data: BenchPayload): Promise<unknown>;
  addBulk(jobs: { name: string; data: BenchPayload }[]): Promise<unknown>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  obliterate(opts: { force: boolean }): Promise<void>;
  close(): Promise<void>;
}

const OnPostgres = withBackend(createPostgresBackend);
const UNFINISHED = ['wait', 'paused', 'active', 'delayed', 'prioritized', 'waiting-children'];

class BullDriver implements Driver {
  readonly #target: Target;
  readonly #best: boolean;
  readonly #redis: boolean;
  #queue: QueueLike | undefined;

  constructor(target: Target, variant: Variant) {
    this.#target = target;
    this.#best = variant === 'best';
    this.#redis = !target.pgUrl;
  }

  #redisOptions(): { host: string; port: number; db: number; maxRetriesPerRequest: null } {
    const u = new URL(this.#target.redisUrl!);
    return { host: u.hostname, port: Number(u.port), db: Number(u.pathname.slice(1) || 0), maxRetriesPerRequest: null };
  }

  #pgOptions() {
    return { connectionString: this.#target.pgUrl, migrate: true };
  }

  #q(): QueueLike {
    const defaultJobOptions = this.#best ? { removeOnComplete: true } : {};
    this.#queue ??= (this.#redis
      ? new Queue(this.#target.queue, { connection: this.#redisOptions(), defaultJobOptions })
      : new OnPostgres.Queue(this.#target.queue, { connection: this.#pgOptions(), defaultJobOptions })) as unknown as QueueLike;
    return this.#queue;
  }

  async install(): Promise<void> {
    await this.#q().getJobCounts('wait'); // connects (and on PostgreSQL migrates)
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await this.#q().add('noop', payload);
  }

  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await this.#q().addBulk(payloads.map((data) => ({ name: 'noop', data })));
  }

  async remaining(): Promise<number> {
    const counts = await this.#q().getJobCounts(...UNFINISHED);
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async reset(): Promise<void> {
    await this.#q().obliterate({ force: true });
  }

  async addFinished(count: number): Promise<string | undefined> {
    if (this.#best) return 'removeOnComplete: BullMQ deletes each job when it completes and keeps no finished ones: this is its 1 proc × 10 figure';
    return this.#redis ? this.#addFinishedRedis(count) : this.#addFinishedPg(count);
  }

  /** Rows as BullMQ's PostgreSQL backend leaves completed jobs (ids `f<n>` never collide with its counter). */
  async #addFinishedPg(count: number): Promise<undefined> {
    await this.install();
    const c = new pg.Client(this.#target.pgUrl);
    await c.connect();
    try {
      await c.query(
        `INSERT INTO bullmq.job (queue, id, seq, name, state, data, opts, attempts_made, attempts_started, return_value,
                                 added_at_ms, processed_at_ms, finished_at_ms, processed_by)
         SELECT $1, 'f' || i, nextval('bullmq.job_seq'), 'noop', 'completed', '{}', '{"attempts":0}', 1, 1, 'null',
                t - 7200000 + i, t - 3600000, t - 3600000, 'bench'
           FROM generate_series(1, $2::int) AS i, (SELECT (extract(epoch FROM now()) * 1000)::bigint AS t) AS now`,
        [this.#target.queue, count],
      );
    } finally {
      await c.end();
    }
    return undefined;
  }

  /** Hashes and `completed` sorted-set entries as BullMQ on Redis leaves completed jobs, 10,000 per script call. */
  async #addFinishedRedis(count: number): Promise<undefined> {
    const redis = new Redis(this.#redisOptions());
    const prefix = `bull:${this.#target.queue}:`;
    const script = `
      local prefix, from, to, t = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
      for i = from, to do
        local id = 'f' .. i
        redis.call('HSET', prefix .. id, 'name', 'noop', 'data', '{}', 'opts', '{"attempts":0}', 'timestamp', t - 7200000 + i,
          'delay', 0, 'priority', 0, 'processedOn', t - 3600000, 'finishedOn', t - 3600000, 'returnvalue', 'null', 'atm', 1, 'ats', 1)
        redis.call('ZADD', prefix .. 'completed', t - 3600000, id)
      end
      return to`;
    try {
      const now = Date.now();
      for (let from = 1; from <= count; from += 10_000) {
        await redis.eval(script, 0, prefix, from, Math.min(count, from + 9_999), now);
      }
    } finally {
      redis.disconnect();
    }
    return undefined;
  }

  async startWorker(opts: StartWorkerOptions): Promise<WorkerHandle> {
    const processor = async (job: Job<BenchPayload>) => {
      opts.onJob(job.data);
    };
    const worker = this.#redis
      ? new Worker<BenchPayload>(this.#target.queue, processor, { connection: this.#redisOptions(), concurrency: opts.concurrency })
      : new OnPostgres.Worker<BenchPayload>(this.#target.queue, processor, { connection: this.#pgOptions(), concurrency: opts.concurrency });
    worker.on('error', (err) => console.error(`[bullmq worker] ${err.message}`));
    await worker.waitUntilReady();
    return { stop: () => worker.close() };
  }

  async close(): Promise<void> {
    await this.#queue?.close();
  }
}
