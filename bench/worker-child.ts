/**
 * A worker process of the bench. Started by the harness (bench/lib/runs.ts) with IPC and one JSON
 * argument; it loads one system's driver and then:
 *
 * - mode "throughput": says `ready`, starts its worker on `start`, reports how many handlers have
 *   started (at most every 10 ms, so the reports cost nothing measurable), stops on `stop` (saying
 *   `drained` once the worker stopped, before its connections close, then `stopped`);
 * - mode "latency": starts an idle worker, then enqueues one job every `intervalMs` from this same
 *   process and reports, per job, handler start − the moment just before the enqueue call (both read
 *   from this process's monotonic clock);
 * - mode "paced": the same at `rate` jobs a second for `seconds` (a batch every 10 ms), reporting every
 *   job's latency and the rate the handlers started at.
 */
import { performance } from 'node:perf_hooks';
import type { BenchPayload, CreateDriver, Target, Variant, WorkerHandle } from './systems/types.ts';

export interface ChildConfig {
  module: string;
  target: Target;
  variant: Variant;
  concurrency: number;
  mode: 'throughput' | 'latency' | 'paced';
  samples?: number;
  intervalMs?: number;
  rate?: number;
  seconds?: number;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'count'; n: number }
  | { type: 'latency'; ms: (number | null)[] }
  | { type: 'paced'; ms: (number | null)[]; seconds: number }
  /** The worker stopped: every outcome written (its connections not yet closed). */
  | { type: 'drained' }
  | { type: 'stopped'; n: number }
  | { type: 'error'; message: string };

const send = (m: ChildMessage) => process.send?.(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
  const { createDriver } = (await import(`./systems/${config.module}`)) as { createDriver: CreateDriver };
  const driver = createDriver(config.target, config.variant);
  if (config.mode === 'latency') return latency(config, driver);
  if (config.mode === 'paced') return paced(config, driver);

  let handled = 0;
  let reported = 0;
  let worker: WorkerHandle | undefined;
  let stopping = false;
  const timer = setInterval(() => {
    if (handled !== reported) send({ type: 'count', n: (reported = handled) });
  }, 10);
  process.on('message', (m: { type: string }) => {
    if (m.type === 'start') {
      driver
        .startWorker({ concurrency: config.concurrency, onJob: () => void handled++ })
        .then((w) => (worker = w))
        .catch(fail);
    } else if (m.type === 'stop' && !stopping) {
      stopping = true; // a second `stop` (the harness's cleanup) finds it under way
      void (async () => {
        for (let i = 0; !worker && i < 100; i++) await sleep(50);
        await worker?.stop();
        send({ type: 'drained' });
        await driver.close();
        clearInterval(timer);
        send({ type: 'stopped', n: handled });
        process.disconnect?.();
      })().catch(fail);
    }
  });
  send({ type: 'ready' });
}

async function latency(config: ChildConfig, driver: ReturnType<CreateDriver>): Promise<void> {
  const samples = config.samples ?? 200;
  const interval = config.intervalMs ?? 20;
  const sent = new Array<number>(samples).fill(0);
  const ms = new Array<number | null>(samples).fill(null);
  let got = 0;
  const onJob = (p: BenchPayload) => {
    const at = performance.now();
    if (p.s !== undefined && p.s >= 0 && ms[p.s] === null) {
      ms[p.s] = at - sent[p.s]!;
      got++;
    }
  };
  const worker = await driver.startWorker({ concurrency: 10, onJob });
  await sleep(1_000); // connections made, worker idle
  for (let i = 0; i < 5; i++) {
    await driver.enqueueOne({}); // warm-up jobs, not measured (prepared statements, lazy paths)
    await sleep(interval);
  }
  await sleep(500);
  const base = performance.now();
  for (let i = 0; i < samples; i++) {
    const wait = base + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    sent[i] = performance.now();
    await driver.enqueueOne({ s: i });
  }
  const deadline = performance.now() + 15_000;
  while (got < samples && performance.now() < deadline) await sleep(20);
  send({ type: 'latency', ms });
  await worker.stop();
  await driver.close();
  process.disconnect?.();
}

async function paced(config: ChildConfig, driver: ReturnType<CreateDriver>): Promise<void> {
  const rate = config.rate ?? 1_000;
  const total = Math.round(rate * (config.seconds ?? 20));
  const TICK_MS = 10;
  const perTick = rate / (1_000 / TICK_MS);
  const sent = new Array<number>(total).fill(0);
  const ms = new Array<number | null>(total).fill(null);
  let got = 0;
  let last = 0;
  const worker = await driver.startWorker({
    concurrency: config.concurrency,
    onJob: (p) => {
      const at = performance.now();
      if (p.s !== undefined && p.s >= 0 && ms[p.s] === null) {
        ms[p.s] = at - sent[p.s]!;
        got++;
        last = at;
      }
    },
  });
  await sleep(1_000);
  for (let i = 0; i < 50; i++) await driver.enqueueOne({}); // warm-up, not measured
  await sleep(500);
  const base = performance.now();
  let next = 0;
  for (let tick = 0; next < total; tick++) {
    const wait = base + tick * TICK_MS - performance.now();
    if (wait > 0) await sleep(wait);
    const upTo = Math.min(total, Math.round((tick + 1) * perTick));
    if (upTo <= next) continue;
    const at = performance.now();
    const batch: BenchPayload[] = [];
    for (; next < upTo; next++) {
      sent[next] = at;
      batch.push({ s: next });
    }
    await driver.enqueueBatch(batch);
  }
  const deadline = performance.now() + 15_000;
  while (got < total && performance.now() < deadline) await sleep(20);
  send({ type: 'paced', ms, seconds: (last - base) / 1000 });
  await worker.stop();
  await driver.close();
  process.disconnect?.();
}

function fail(err: unknown): void {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 100);
}

// The harness went away (it crashed, or was interrupted): nothing left to report to.
process.on('disconnect', () => setTimeout(() => process.exit(0), 2_000).unref());
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
main().catch(fail);
