/**
 * The pickup-latency floor of this machine: what PostgreSQL alone takes for the two steps every
 * PostgreSQL queue's pickup contains, measured the way the latency scenario paces its jobs (one every
 * `intervalMs`, so each statement meets an idle backend): a durable single-row INSERT (its commit waits
 * for the WAL flush, as an enqueue's must) and one round trip (`SELECT 1`), the least a woken worker's
 * claim costs. Their sum is a lower bound for INSERT → NOTIFY → claim that no queue on this server can
 * beat, which puts an absolute latency target in this machine's terms.
 */
import pg from 'pg';
import { createDatabase, dropDatabase } from './infra.ts';
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
