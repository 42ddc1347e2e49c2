/** The fleet's table: printed, and written as markdown beside the JSON of the run. */
import type { CellResult } from './cell.ts';
import type { FleetRun } from './fleet.ts';

const HEAD = [
  'workers', 'APIs', 'PgBouncer', 'enq/s', 'done/s', 'p50 ms', 'p99 ms', 'µs CPU/job @rate', 'µs CPU/job sat.',
  'cores pg/pgb/wrk/api/load (machine)', 'PG conns (peak)', 'pgb cl/sv (max wait)', 'waits (active)', 'errors',
];

export function row(c: CellResult): string[] {
  const t = c.throughput;
  const e = c.errors;
  const waits = Object.entries(c.connections.activeWaits).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    String(c.workers),
    String(c.apis),
    c.pgbouncer ? 'on' : 'off',
    String(t.enqueuedPerSec),
    String(t.processedPerSec),
    String(c.latency.p50Ms),
    String(c.latency.p99Ms),
    String(c.latency.cpuUsPerJob),
    String(t.cpuUsPerProcessedJob),
    `${t.cores.postgres}/${t.cores.pgbouncer}/${t.cores.workers}/${t.cores.apis}/${t.cores.loadgen} (${t.cores.machine})`,
    String(c.connections.total),
    c.pgbouncer ? `${c.connections.pgbClients}/${c.connections.pgbServers} (${c.connections.pgbMaxWaitMs} ms)` : '–',
    waits || '–',
    String(e.http + e.processErrors + e.exited + e.notSucceeded),
  ];
}

export function markdown(cells: CellResult[]): string {
  const lines = [`| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`];
  for (const c of cells) lines.push(`| ${row(c).join(' | ')} |`);
  return lines.join('\n');
}

export function text(cells: CellResult[]): string {
  const rows = [HEAD, ...cells.map(row)];
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => v.padStart(widths[i]!)).join('  ')).join('\n');
}

export function fullMarkdown(run: FleetRun): string {
  const m = run.meta;
  // The peak seen from one host of a role (per address: direct, that is the process's own connections).
  const perHost = (c: CellResult, role: string) => {
    const addrs = m.hosts.filter((h) => h.role.startsWith(role)).map((h) => h.address);
    return Math.max(0, ...addrs.map((a) => c.connections.byAddr[a] ?? 0));
  };
  const conns = run.cells
    .map((c) => `| ${c.workers} | ${c.apis} | ${c.pgbouncer ? 'on' : 'off'} | ${c.connections.total} | ${perHost(c, 'worker')} | ${perHost(c, 'api')} | ` +
      `${Object.entries(c.connections.byApp).sort().map(([k, v]) => `${k} ${v}`).join(', ')} |`)
    .join('\n');
  return [
    `# jobq fleet run ${m.startedAt}`,
    '',
    `${m.cpus} CPUs; PostgreSQL ${m.postgres} on ${m.gateway}${m.pgbouncer ? `; ${m.pgbouncer}, pool_mode=transaction, default_pool_size=${m.poolSize}` : ''}; ` +
      `${m.hosts.length} namespaces ${m.prefix}h* on ${m.subnet}.`,
    '',
    markdown(run.cells),
    '',
    'Peak PostgreSQL connections (client backends of the cell\'s database): in all, from one worker\'s address, from one API\'s address ' +
      '(through PgBouncer these are only the direct LISTEN connections; the rest come from PgBouncer\'s), and by application_name ' +
      '(through PgBouncer a server connection carries the name of its last client, or none yet):',
    '',
    '| workers | APIs | PgBouncer | all | one worker | one API | by application_name |',
    '|---|---|---|---|---|---|---|',
    conns,
    '',
  ].join('\n');
}
