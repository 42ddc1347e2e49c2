/**
 * jobq, through its library API (src/index.ts) with its own defaults: the worker settings are those
 * `resolveConfig` gives with no environment (pool of 10, poll 1 s, LISTEN/NOTIFY wake-up, heartbeat
 * 5 s...), only `concurrency` is set. The log level is `warn` (at jobq's default `info` it writes two
 * lines per job, which would measure pino rather than the queue).
 *
 * Its store is the one jobq's defaults choose (the row store until the log store becomes the default),
 * or the log store for the variant `logstore`; its finished jobs are made through the same API in that
 * store (jobq-history.ts).
 *
 * Variant `storage:<name>` runs a candidate of the storage study instead (bench/storage/<name>/,
 * docs/design/storage.md): its tables after jobq's migrations, and its `Queue` under the same `Worker`.
 */
import { Type } from '@sinclair/typebox';
import pg from 'pg';
import { createPool, KindRegistry, migrate, Queue, resolveConfig, Worker } from '../../src/index.ts';
import { createLogger } from '../../src/logger.ts';
import { readFileSync } from 'node:fs';
import type { StorageCandidate } from '../storage/candidate.ts';
import { CANDIDATES } from '../storage/candidates.ts';
import { buildHistory, type HistoryPlan, planHistory, timeRetention } from './jobq-history.ts';
import type { BenchPayload, BenchPolicy, CreateDriver, Driver, FlowDriver, RetentionTiming, StartWorkerOptions, StreamsDriver, Target, Variant, WorkerHandle } from './types.ts';

const KIND = 'bench_noop';
const Payload = Type.Object({ s: Type.Optional(Type.Integer()) }, { additionalProperties: false });
/** The log store's tables the hot path writes (the hot generations' partitions, not the archived ones). */
const LOG_TABLES = ['jobq.log', 'jobq.log_batch', 'jobq.log_done', 'jobq.log_fail', 'jobq.log_window', 'jobq.log_cursor', 'jobq.log_scheduled', 'jobq.log_gen', 'jobq.log_sweep'];

/** The store each opt-in variant names (QueueOptions.logStore); the others run jobq's default. */
const STORES: Partial<Record<Variant, boolean | 'busy'>> = { logstore: true, 'logstore-busy': 'busy', rows: false };

// The store is jobq's default (resolveConfig with no environment: QueueOptions.logStore as `jobq worker`
// sets it), or the store an opt-in variant names: `logstore` (every plain job in the log), `logstore-busy`
// (busy queues'), `rows` (none).
export const createDriver: CreateDriver = (target: Target, variant: Variant) =>
  new JobqDriver(target, storageOf(variant), STORES[variant] ?? resolveConfig({}, {}).logStore);

function storageOf(variant: Variant): StorageCandidate | undefined {
  if (!variant.startsWith('storage:')) return undefined;
  const cand = CANDIDATES[variant.slice('storage:'.length)];
  if (!cand) throw new Error(`no storage candidate ${variant}`);
  return cand;
}

class JobqDriver implements Driver {
  readonly #target: Target;
  readonly #config = resolveConfig({}, {});
  readonly #pool: pg.Pool;
  #onJob: (p: BenchPayload) => void = () => {};
  readonly #queue: Queue;
  readonly #kinds: KindRegistry;
  readonly #storage: StorageCandidate | undefined;
  /** The history addFinished made, for retention(). */
  #history: HistoryPlan | undefined;

  /** The log store is on (variant `logstore`, or jobq's default once it is): plain jobs go to the log. */
  readonly #logStore: boolean;

  constructor(target: Target, storage?: StorageCandidate, logStore: boolean | 'busy' = false) {
    this.#target = target;
    this.#storage = storage;
    this.#logStore = logStore !== false;
    this.#pool = createPool(target.pgUrl, { max: this.#config.poolSize, applicationName: 'jobq-bench' });
    const kinds = (this.#kinds = new KindRegistry([
      {
        name: KIND,
        payloadSchema: Payload,
        // async, as every peer's handler here: the same work in the same shape (jobq settles a handler
        // that returns without a promise on the spot, which would flatter it).
        handler: async (payload) => {
          this.#onJob(payload);
        },
      },
    ]));
    this.#queue = storage ? storage.createQueue({ pool: this.#pool, kinds }) : new Queue({ pool: this.#pool, kinds, logStore });
    this.hotTables = storage?.hotTables ?? (logStore ? ['jobq.jobs', 'jobq.workers', ...LOG_TABLES] : ['jobq.jobs', 'jobq.workers']);
  }

  async install(): Promise<void> {
    await migrate(this.#pool);
    if (this.#storage?.setupSql) await this.#pool.query(readFileSync(this.#storage.setupSql, 'utf8'));
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await this.#queue.enqueue({ kind: KIND, payload });
  }

  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await this.#queue.enqueueMany(payloads.map((payload) => ({ kind: KIND, payload })));
  }

  /** Policies on the default queue (where the jobs go), and jobs with a group. */
  readonly flow: FlowDriver = {
    setPolicy: async (policy: BenchPolicy | null) => {
      await this.#queue.setQueue('default', { concurrency: policy?.concurrency ?? null, rate: policy?.rate ?? null });
    },
    enqueueGroupedBatch: async (payloads, groupOf) => {
      await this.#queue.enqueueMany(payloads.map((payload, i) => ({ kind: KIND, payload, group: groupOf(i) })));
    },
  };

  /** The streams scenario's jobs go to the default queue (enqueueBatch names none). */
  readonly streams: StreamsDriver = {
    queue: 'default',
    unfinishedIds: async (n) => {
      const { rows } = await this.#pool.query<{ id: string }>(
        `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS i, count(*) OVER () AS total
                           FROM jobq.jobs WHERE status IN ('queued', 'running', 'retrying')) t
          WHERE (i - 1) % greatest(1, total / $1) = 0 ORDER BY id LIMIT $1`,
        [n],
      );
      return rows.map((r) => r.id);
    },
    addLater: async (n) => {
      const ids: string[] = [];
      for (let done = 0; done < n; done += 1_000) {
        const batch = Array.from({ length: Math.min(1_000, n - done) }, () => ({ kind: KIND, payload: {}, delayMs: 3_600_000 }));
        ids.push(...(await this.#queue.enqueueMany(batch)).map((r) => r.job.id));
      }
      return ids;
    },
  };

  async remaining(): Promise<number> {
    if (this.#storage) return this.#withClient((c) => this.#storage!.remaining(c));
    const { rows } = await this.#pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobq.jobs WHERE status IN ('queued', 'running', 'retrying')`,
    );
    if (!this.#logStore) return rows[0]!.n;
    // Each log entry ends with exactly one outcome (a done position or a fail row): the rest wait or run.
    const { rows: [log] } = await this.#pool.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM jobq.log) - (SELECT count(*) FROM jobq.log_fail)
               - (SELECT coalesce(sum(cardinality(pos)), 0) FROM jobq.log_done) + (SELECT count(*) FROM jobq.log_scheduled))::int AS n`,
    );
    return rows[0]!.n + log!.n;
  }

  async reset(): Promise<void> {
    if (this.#storage) return this.#withClient((c) => this.#storage!.reset(c));
    await this.#pool.query('TRUNCATE jobq.jobs, jobq.queues, jobq.queue_starts');
    if (this.#logStore) {
      await this.#pool.query(`TRUNCATE jobq.log, jobq.log_batch, jobq.log_done, jobq.log_fail, jobq.log_scheduled, jobq.log_window,
                                        jobq.log_cancel, jobq.log_progress, jobq.log_cursor`);
    }
  }

  /**
   * The storage study's prototypes: their own SQL, every job finished an hour ago. jobq: through its
   * own API, in its store, over the default retention (jobq-history.ts).
   */
  async addFinished(count: number, progress?: (made: number) => void): Promise<string | undefined> {
    if (this.#storage) {
      await this.#withClient((c) => this.#storage!.addFinished(c, count, 1));
      return undefined;
    }
    const plan = planHistory(count, this.#config.retention);
    await buildHistory(this.#pool, this.#kinds, KIND, this.#logStore, plan, (_, made) => progress?.(made));
    this.#history = plan;
    return undefined;
  }

  async retention(): Promise<RetentionTiming> {
    if (this.#storage || !this.#history) throw new Error(this.#storage ? "a prototype's retention is the storage study's (npm run bench:storage)" : 'no history to keep');
    return timeRetention(this.#pool, this.#kinds, this.#logStore, this.#config.retention, this.#history);
  }

  readonly hotTables: string[];

  async startWorker(opts: StartWorkerOptions): Promise<WorkerHandle> {
    this.#onJob = opts.onJob;
    const config = { ...this.#config, concurrency: opts.concurrency };
    const worker = new Worker({
      ...config,
      queue: this.#queue,
      databaseUrl: this.#target.pgUrl,
      logger: createLogger('warn', { pretty: false }),
      workerId: `bench:${process.pid}`,
    });
    await worker.start();
    return { stop: () => worker.stop() };
  }

  /** A client of its own (the pool's have a 60 s statement timeout, too short for a large history). */
  async #withClient<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client(this.#target.pgUrl);
    await c.connect();
    try {
      return await f(c);
    } finally {
      await c.end();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
