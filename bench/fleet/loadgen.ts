/**
 * The fleet's load generator, a process of its own in its own namespace ("host"): enqueues `noop` jobs
 * over HTTP (POST /v1/jobs/batch) to the APIs, round-robin, then prints one JSON line of what it did.
 *
 *   rate: open loop, `rate` jobs/s in batches every 50 ms, whatever the answers: the offered rate of
 *         the pickup-latency phase (a slow answer does not slow the offer).
 *   max:  closed loop, `concurrency` requests of `batch` jobs in flight per API, each sent as soon as
 *         the previous one was answered: as fast as the APIs take jobs (the throughput phase).
 *
 * Settings come as JSON in FLEET_LOAD (LoadSpec); it stops after `seconds`, waiting for answers then.
 */
export interface LoadSpec {
  targets: string[];
  mode: 'rate' | 'max';
  seconds: number;
  rate?: number;
  batch?: number;
  concurrency?: number;
  /** Print the ids of the jobs made (small runs: the test checks each ran once). */
  collectIds?: boolean;
}

export interface LoadResult {
  enqueued: number;
  requests: number;
  errors: number;
  /** First error messages, by kind (HTTP status or network error). */
  errorKinds: Record<string, number>;
  startedAtMs: number;
  endedAtMs: number;
  ids?: string[];
}

const spec = JSON.parse(process.env.FLEET_LOAD ?? '{}') as LoadSpec;
const result: LoadResult = { enqueued: 0, requests: 0, errors: 0, errorKinds: {}, startedAtMs: Date.now(), endedAtMs: 0, ...(spec.collectIds ? { ids: [] } : {}) };
let next = 0;

async function send(n: number): Promise<void> {
  const target = spec.targets[next++ % spec.targets.length]!;
  const jobs = Array.from({ length: n }, () => ({ kind: 'noop', payload: {} }));
  result.requests++;
  try {
    const res = await fetch(`${target}/v1/jobs/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jobs }) });
    const body = (await res.json()) as { jobs?: { id: string }[] };
    if (res.status !== 201 || !body.jobs) return fail(`http ${res.status}`);
    result.enqueued += body.jobs.length;
    if (result.ids) for (const j of body.jobs) result.ids.push(j.id);
  } catch (err) {
    fail(String((err as Error).cause ?? (err as Error).message).slice(0, 80));
  }
}

function fail(kind: string): void {
  result.errors++;
  result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + 1;
}

const end = Date.now() + spec.seconds * 1_000;
if (spec.mode === 'rate') {
  const tickMs = 50;
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  const t0 = Date.now();
  while (Date.now() < end) {
    // Catch up to the offered rate at each tick (timers on a busy machine fire late).
    const due = Math.floor(((Date.now() - t0) / 1_000) * spec.rate!);
    const n = due - sent;
    if (n > 0) {
      sent += n;
      const p = send(n).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(inFlight);
} else {
  const loops = spec.targets.length * (spec.concurrency ?? 4);
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (Date.now() < end) await send(spec.batch ?? 100);
    }),
  );
}
result.endedAtMs = Date.now();
process.stdout.write(`${JSON.stringify(result)}\n`);
