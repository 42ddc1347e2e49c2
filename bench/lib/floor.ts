/**
 * The pickup-latency floor of this machine: what PostgreSQL alone takes for the two steps every
 * PostgreSQL queue's pickup contains, measured the way the latency scenario paces its jobs (one every
 * `intervalMs`, so each statement meets an idle backend): a durable single-row INSERT (its commit waits
 * for the WAL flush, as an enqueue's must) and one round trip (`SELECT 1`), the least a woken worker's
 * claim costs. Their sum is a lower bound for INSERT → NOTIFY → claim that no queue on this server can
 * beat, which puts an absolute latency target in this machine's terms.
 */
import pg from 'pg';
import { createDatabase, dropDatabase, type Server } from './infra.ts';
import type { Options } from './options.ts';
import type { Results } from './report.ts';
import { quantile } from './runs.ts';

export interface Floor {
  /** p50 ms of a durable single-row INSERT into an empty-ish table, autocommit. */
  insertMs: number;
  /** p50 ms of `SELECT 1`. */
  roundTripMs: number;
}

export async function measureFloor(adminUrl: string, samples: number, intervalMs: number): Promise<Floor> {
  const name = 'bench_floor';
  const url = await createDatabase(adminUrl, name);
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
    // Parsed and planned once, as a queue's prepared statements are.
    const insert = { name: 'floor_insert', text: 'INSERT INTO t DEFAULT VALUES' };
    const select = { name: 'floor_select', text: 'SELECT 1' };
    const timed = async (q: { name: string; text: string }): Promise<number> => {
      const all: number[] = [];
      for (let i = 0; i < samples + 5; i++) {
        await new Promise((r) => setTimeout(r, intervalMs));
        const t0 = performance.now();
        await client.query(q);
        if (i >= 5) all.push(performance.now() - t0); // the first few warm up the connection
      }
      return quantile(all.sort((a, b) => a - b), 0.5);
    };
    return { insertMs: await timed(insert), roundTripMs: await timed(select) };
  } finally {
    await client.end().catch(() => {});
    await dropDatabase(adminUrl, name);
  }
}

/** The floor for the report (its table, and the latency targets' bound): `--reps` measurements into `results.figures.postgres`. */
export async function runFloor(server: Server, o: Options, results: Results, log: (m: string) => void): Promise<void> {
  const figures = (results.figures.postgres ??= {});
  const fig = (key: string) => (figures[key] ??= { unit: 'ms', values: [], median: null });
  try {
    for (let rep = 1; rep <= o.reps; rep++) {
      const f = await measureFloor(server.url, o.samples, o.intervalMs);
      fig('floor.insert').values.push(f.insertMs);
      fig('floor.roundtrip').values.push(f.roundTripMs);
      fig('floor.pickup').values.push(f.insertMs + f.roundTripMs);
      log(`postgres floor rep ${rep}/${o.reps}: insert ${f.insertMs.toFixed(2)} ms + round trip ${f.roundTripMs.toFixed(2)} ms`);
    }
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!;
    for (const key of ['floor.insert', 'floor.roundtrip', 'floor.pickup']) fig(key).error = msg;
    log(`postgres floor: FAILED ${msg}`);
  }
}
