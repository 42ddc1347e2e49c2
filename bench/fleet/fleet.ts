/**
 * The fleet bench (issue #21, item 2): a bridge and a namespace per process, a PostgreSQL on the
 * bridge (and PgBouncer beside it), then each cell of the matrix on a database of its own
 * (cell.ts). Everything made is removed at the end, on failure, and on SIGINT/SIGTERM.
 */
import pg from 'pg';
import { startPgBouncer, type PgBouncer, pgbouncerAvailable, pgbouncerVersion } from '../../test/helpers/pgbouncer.ts';
import { migrate } from '../../src/queue/migrate.ts';
import { type CellResult, type CellSetup, runCell } from './cell.ts';
import { createNetwork, type Network, networkUnavailable } from './network.ts';
import { type FleetPostgres, startFleetPostgres } from './postgres.ts';
import { killAll } from './processes.ts';

export interface FleetOptions {
  cells: CellSetup[];
  rate: number;
  rateSeconds: number;
  maxSeconds: number;
  batch: number;
  concurrency: number;
  /** PgBouncer's default_pool_size (server connections for the cell's database). */
  poolSize: number;
  verify?: boolean;
  log?: (m: string) => void;
  /** Called with each cell's result as it comes (the runner prints and saves as it goes). */
  onCell?: (r: CellResult) => void;
}

export interface FleetRun {
  meta: {
    startedAt: string;
    cpus: number;
    postgres: string;
    pgbouncer?: string;
    poolSize: number;
    subnet: string;
    prefix: string;
    gateway: string;
    hosts: { ns: string; address: string; role: string }[];
  };
  cells: CellResult[];
}

/** Why the fleet cannot run on this machine, or undefined. */
export function fleetUnavailable(needPgBouncer: boolean): string | undefined {
  const why = networkUnavailable();
  if (why) return why;
  if (needPgBouncer) {
    const b = pgbouncerAvailable();
    if (!b.ok) return b.why;
  }
  return undefined;
}

export async function runFleet(opts: FleetOptions): Promise<FleetRun> {
  const log = opts.log ?? (() => {});
  const maxWorkers = Math.max(...opts.cells.map((c) => c.workers));
  const maxApis = Math.max(...opts.cells.map((c) => c.apis));
  const anyPgb = opts.cells.some((c) => c.pgbouncer);
  const why = fleetUnavailable(anyPgb);
  if (why) throw new Error(why);

  let network: Network | undefined;
  let postgres: FleetPostgres | undefined;
  let bouncer: PgBouncer | undefined;
  const cleanup = async () => {
    killAll(); // after a failure or a signal; after a run, none is left
    await bouncer?.stop().catch(() => {});
    await postgres?.stop().catch(() => {});
    network?.teardown();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: removing the fleet's namespaces and servers`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    network = createNetwork(maxApis + maxWorkers + 1);
    const apiHosts = network.hosts.slice(0, maxApis);
    const workerHosts = network.hosts.slice(maxApis, maxApis + maxWorkers);
    const loadHost = network.hosts[maxApis + maxWorkers]!;
    log(`network ${network.subnet}: bridge ${network.gateway}, ${network.hosts.length} namespaces ${network.prefix}h*`);
    postgres = await startFleetPostgres({ address: network.gateway, subnet: network.subnet, maxConnections: 600 });
    const admin = new pg.Client({ connectionString: postgres.url('postgres'), application_name: 'jobqf-admin' });
    admin.on('error', () => {}); // the server stopping at cleanup
    await admin.connect();
    const version = (await admin.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    await admin.query('CREATE DATABASE fleet_template');
    const tpl = new pg.Pool({ connectionString: postgres.url('fleet_template'), max: 1 });
    await migrate(tpl);
    await tpl.end();
    if (anyPgb) {
      bouncer = await startPgBouncer({ serverUrl: postgres.url('postgres'), listenHost: network.gateway, port: 6432, poolSize: opts.poolSize, maxClientConn: 5_000 });
      log(`PgBouncer (${pgbouncerVersion()}) on ${network.gateway}:6432, pool_mode=transaction, default_pool_size=${opts.poolSize}`);
    }
    const run: FleetRun = {
      meta: {
        startedAt: new Date().toISOString(),
        cpus: (await import('node:os')).cpus().length,
        postgres: version,
        ...(anyPgb ? { pgbouncer: pgbouncerVersion() } : {}),
        poolSize: opts.poolSize,
        subnet: network.subnet,
        prefix: network.prefix,
        gateway: network.gateway,
        hosts: [
          ...apiHosts.map((h, i) => ({ ...h, role: `api ${i + 1}` })),
          ...workerHosts.map((h, i) => ({ ...h, role: `worker ${i + 1}` })),
          { ...loadHost, role: 'load generator' },
        ],
      },
      cells: [],
    };
    for (const [i, cell] of opts.cells.entries()) {
      const database = `fleet_c${i + 1}`;
      await admin.query(`CREATE DATABASE ${database} TEMPLATE fleet_template`);
      // Behind PgBouncer the client cannot set statement_timeout at connect: it is the server's (README).
      await admin.query(`ALTER DATABASE ${database} SET statement_timeout = '5s'`);
      log(`cell ${i + 1}/${opts.cells.length}: ${cell.workers} workers, ${cell.apis} APIs, ${cell.pgbouncer ? 'through PgBouncer' : 'direct'}`);
      const result = await runCell(cell, {
        database,
        directUrl: postgres.url(database),
        pooledUrl: bouncer?.pooled(postgres.url(database)),
        pgbAdminUrl: bouncer?.adminUrl,
        pgPid: postgres.pid,
        pgbPid: bouncer?.pid,
        workerHosts,
        apiHosts,
        loadHost,
        rate: opts.rate,
        rateSeconds: opts.rateSeconds,
        maxSeconds: opts.maxSeconds,
        batch: opts.batch,
        concurrency: opts.concurrency,
        verify: opts.verify ?? false,
        log,
      });
      run.cells.push(result);
      opts.onCell?.(result);
      await admin.query(`DROP DATABASE ${database} WITH (FORCE)`);
    }
    await admin.end();
    return run;
  } catch (err) {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}
