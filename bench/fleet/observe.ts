/**
 * What the fleet measures besides the jobs: CPU from /proc (clock ticks of user + system time) and
 * connections, sampled while a cell runs: PostgreSQL's pg_stat_activity (client backends of the cell's
 * database, by application_name and by source address) and PgBouncer's SHOW POOLS / SHOW CLIENTS.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

const TICK_US = 1_000_000 / 100; // CLK_TCK is 100 on Linux

/** utime, stime, cutime, cstime of a process, in µs (undefined when it is gone). */
function times(pid: number): { self: number; children: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
    return { ppid: Number(f[1]), self: (Number(f[11]) + Number(f[12])) * TICK_US, children: (Number(f[13]) + Number(f[14])) * TICK_US };
  } catch {
    return undefined;
  }
}

/** Busy time of the whole machine so far (µs, summed over its cores): everything, ours or not. */
export function machineBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) * TICK_US;
}

/** CPU used so far by `pid` and all its threads (µs); 0 once it is gone. */
export function cpuOf(pid: number): number {
  return times(pid)?.self ?? 0;
}

/**
 * CPU used so far by a server that forks a process per connection (PostgreSQL): the postmaster's own,
 * its reaped children's (cutime, cstime), and its live children's. A backend that ends between two
 * readings moves from the live sum into the postmaster's cutime with all it used, so differences of
 * two readings count it exactly.
 */
export function cpuOfTree(rootPid: number): number {
  const root = times(rootPid);
  if (!root) return 0;
  let total = root.self + root.children;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const t = times(Number(name));
    if (t && t.ppid === rootPid) total += t.self;
  }
  return total;
}

export interface ConnectionPeaks {
  /** Peak of all client backends of the cell's database (the sampler's own excluded). */
  total: number;
  /** Peak per application_name. */
  byApp: Record<string, number>;
  /** Peak per source address (a namespace's, or PgBouncer's). */
  byAddr: Record<string, number>;
  /** With PgBouncer: peak of its clients (cl_active + cl_waiting) and servers (sv_*) for the database. */
  pgbClients?: number;
  pgbServers?: number;
  pgbMaxWaitMs?: number;
  /** With PgBouncer: the source addresses of its clients seen. */
  pgbClientAddrs?: string[];
  /**
   * What the cell database's active backends were waiting on, on average over the samples: their
   * wait_event_type:wait_event (LWLock:WALWrite, IO:WALSync, Lock:transactionid…), "CPU" when none
   * (running or waiting for a core).
   */
  activeWaits: Record<string, number>;
  samples: number;
}

const SAMPLER = 'jobqf-sampler';

/** Samples every `everyMs` until `stop()`, which returns the peaks. */
export function sampleConnections(o: { directUrl: string; database: string; pgbAdminUrl?: string; everyMs?: number }): { stop(): Promise<ConnectionPeaks> } {
  const peaks: ConnectionPeaks = { total: 0, byApp: {}, byAddr: {}, activeWaits: {}, samples: 0, ...(o.pgbAdminUrl ? { pgbClients: 0, pgbServers: 0, pgbMaxWaitMs: 0 } : {}) };
  const addrs = new Set<string>();
  const waits: Record<string, number> = {};
  const db = new pg.Client({ connectionString: o.directUrl, application_name: SAMPLER });
  const admin = o.pgbAdminUrl ? new pg.Client({ connectionString: o.pgbAdminUrl }) : undefined;
  db.on('error', () => {});
  admin?.on('error', () => {});
  let running = true;
  const loop = (async () => {
    await db.connect();
    await admin?.connect();
    while (running) {
      const { rows } = await db.query<{ app: string; addr: string | null; wait: string | null; n: number }>(
        `SELECT application_name AS app, host(client_addr) AS addr,
                CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU') END AS wait, count(*)::int AS n
           FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND datname = $1 AND application_name <> $2 GROUP BY 1, 2, 3`,
        [o.database, SAMPLER],
      );
      peaks.samples++;
      for (const r of rows) if (r.wait) waits[r.wait] = (waits[r.wait] ?? 0) + r.n;
      let total = 0;
      const byApp: Record<string, number> = {};
      const byAddr: Record<string, number> = {};
      for (const r of rows) {
        total += r.n;
        byApp[r.app || '(none)'] = (byApp[r.app || '(none)'] ?? 0) + r.n;
        byAddr[r.addr ?? 'socket'] = (byAddr[r.addr ?? 'socket'] ?? 0) + r.n;
      }
      peaks.total = Math.max(peaks.total, total);
      for (const [k, v] of Object.entries(byApp)) peaks.byApp[k] = Math.max(peaks.byApp[k] ?? 0, v);
      for (const [k, v] of Object.entries(byAddr)) peaks.byAddr[k] = Math.max(peaks.byAddr[k] ?? 0, v);
      if (admin) {
        const pools = await admin.query<Record<string, string>>('SHOW POOLS');
        for (const p of pools.rows.filter((r) => r.database === o.database)) {
          const n = (k: string) => Number(p[k] ?? 0);
          peaks.pgbClients = Math.max(peaks.pgbClients!, n('cl_active') + n('cl_waiting'));
          peaks.pgbServers = Math.max(peaks.pgbServers!, n('sv_active') + n('sv_idle') + n('sv_used') + n('sv_tested') + n('sv_login'));
          peaks.pgbMaxWaitMs = Math.max(peaks.pgbMaxWaitMs!, n('maxwait') * 1_000 + Math.round(n('maxwait_us') / 1_000));
        }
        const clients = await admin.query<Record<string, string>>('SHOW CLIENTS');
        for (const c of clients.rows) if (c.database === o.database) addrs.add(c.addr!);
      }
      await new Promise((r) => setTimeout(r, o.everyMs ?? 250));
    }
  })();
  return {
    async stop() {
      running = false;
      try {
        await loop;
      } finally {
        await Promise.all([db.end().catch(() => {}), admin?.end().catch(() => {})]);
      }
      if (admin) peaks.pgbClientAddrs = [...addrs].sort();
      for (const [k, v] of Object.entries(waits)) peaks.activeWaits[k] = Math.round((v / Math.max(1, peaks.samples)) * 100) / 100;
      return peaks;
    },
  };
}
