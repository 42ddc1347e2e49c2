/** The results: their shape, medians, the printed tables, and the files under bench/results/. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderChart } from '../chart.ts';
import type { Machine } from './infra.ts';
import type { Options } from './options.ts';
import { checkTargets, formatVerdicts } from './targets.ts';

export interface Figure {
  unit: string;
  /** One value per repetition. */
  values: number[];
  median: number | null;
  note?: string;
  error?: string;
  /** Counters summed over repetitions (lost latency samples, re-run jobs, HTTP errors...). */
  extra?: Record<string, number>;
  /** Per-repetition diagnostics (commits and WAL bytes per job), reported as medians. */
  diag?: Record<string, number[]>;
  /** The `held` scenario's hot tables over the hold (its last repetition), on `held.dead`. */
  samples?: Sample[];
}

/** The hot tables at `s` seconds into a held xmin: growth (bytes) since it began, dead tuples, jobs waiting. */
export interface Sample {
  s: number;
  bytes: number;
  dead: number;
  waiting: number;
}

export interface Results {
  startedAt: string;
  finishedAt: string;
  mode: 'quick' | 'full';
  options: Options;
  machine: Machine;
  postgres: { version: string; embedded: boolean; settings: Record<string, string> };
  redis: { version: string } | null;
  versions: Record<string, string>;
  systems: { id: string; label: string; family: string; backend: string; variant: string; settings: string; version: string; skipped?: string }[];
  /** By system id (plus `pgbench` and `postgres`: PostgreSQL alone), then metric key. */
  figures: Record<string, Record<string, Figure>>;
  notes: string[];
}

export const METRICS: Record<string, { label: string; unit: string; higherIsBetter: boolean }> = {
  'process.c10': { label: '1 proc × 10', unit: 'jobs/s', higherIsBetter: true },
  'process.c50': { label: '1 proc × 50', unit: 'jobs/s', higherIsBetter: true },
  'process.2proc': { label: '2 procs × 10', unit: 'jobs/s', higherIsBetter: true },
  'process.finished': { label: '+finished rows', unit: 'jobs/s', higherIsBetter: true },
  'process.xmin': { label: 'held xmin', unit: 'jobs/s', higherIsBetter: true },
  'process.fresh': { label: 'just enqueued', unit: 'jobs/s', higherIsBetter: true },
  'held.before': { label: 'full speed before', unit: 'jobs/s', higherIsBetter: true },
  'held.drain': { label: 'full speed, held', unit: 'jobs/s', higherIsBetter: true },
  'held.offered': { label: 'load offered', unit: 'jobs/s', higherIsBetter: true },
  'held.rate': { label: 'load run', unit: 'jobs/s', higherIsBetter: true },
  'held.waiting': { label: 'waiting at end', unit: 'jobs', higherIsBetter: false },
  'held.dead': { label: 'dead tuples at end', unit: 'tuples', higherIsBetter: false },
  'held.deadPerJob': { label: 'dead per job', unit: 'per job', higherIsBetter: false },
  'held.growth': { label: 'hot tables +MB', unit: 'MB', higherIsBetter: false },
  'retention.day': { label: 'retention of a day', unit: 'ms', higherIsBetter: false },
  'process.limited': { label: 'concurrency limit 10', unit: 'jobs/s', higherIsBetter: true },
  'process.rated': { label: 'rate limit (not reached)', unit: 'jobs/s', higherIsBetter: true },
  'process.groups': { label: '1,000 groups', unit: 'jobs/s', higherIsBetter: true },
  'streams.full.0': { label: 'full speed, no stream', unit: 'jobs/s', higherIsBetter: true },
  'streams.full.n': { label: 'full speed, streams open', unit: 'jobs/s', higherIsBetter: true },
  'streams.paced.0.p50': { label: 'paced p50, no stream', unit: 'ms', higherIsBetter: false },
  'streams.paced.n.p50': { label: 'paced p50, streams open', unit: 'ms', higherIsBetter: false },
  'streams.paced.0.p99': { label: 'paced p99, no stream', unit: 'ms', higherIsBetter: false },
  'streams.paced.n.p99': { label: 'paced p99, streams open', unit: 'ms', higherIsBetter: false },
  'streams.paced.0.rate': { label: 'paced rate, no stream', unit: 'jobs/s', higherIsBetter: true },
  'streams.paced.n.rate': { label: 'paced rate, streams open', unit: 'jobs/s', higherIsBetter: true },
  'latency.p50': { label: 'p50', unit: 'ms', higherIsBetter: false },
  'latency.p95': { label: 'p95', unit: 'ms', higherIsBetter: false },
  'latency.p99': { label: 'p99', unit: 'ms', higherIsBetter: false },
  'enqueue.single': { label: '1/call, 10 callers', unit: 'jobs/s', higherIsBetter: true },
  'enqueue.batch': { label: '1,000/call', unit: 'jobs/s', higherIsBetter: true },
  'http.single': { label: 'HTTP POST /v1/jobs', unit: 'jobs/s', higherIsBetter: true },
  'http.batch': { label: 'HTTP POST /v1/jobs/batch', unit: 'jobs/s', higherIsBetter: true },
  'pgbench.batched': { label: 'claim 50 + 1 finish stmt', unit: 'jobs/s', higherIsBetter: true },
  'pgbench.perJob': { label: 'claim 50 + 50 finish stmts', unit: 'jobs/s', higherIsBetter: true },
  'floor.insert': { label: 'durable 1-row INSERT', unit: 'ms', higherIsBetter: false },
  'floor.roundtrip': { label: 'SELECT 1', unit: 'ms', higherIsBetter: false },
  'floor.pickup': { label: 'sum: pickup floor', unit: 'ms', higherIsBetter: false },
};

const FLOW_METRICS = ['process.limited', 'process.rated', 'process.groups'];

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function finalize(r: Results): void {
  for (const byMetric of Object.values(r.figures)) for (const f of Object.values(byMetric)) f.median = median(f.values);
}

const num = (v: number | null | undefined, unit: string): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (unit === 'ms') return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  if (unit === 'per job') return v.toFixed(3);
  if (unit === 'MB') return v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  return Math.round(v).toLocaleString('en-US');
};

function cell(f: Figure | undefined): string {
  if (!f) return '—';
  if (f.error) return 'failed';
  if (f.median === null) return f.note ? 'n/a' : '—';
  return num(f.median, f.unit) + (f.note ? '*' : '');
}

function ratio(jobq: Figure | undefined, peer: Figure | undefined): string {
  if (!jobq?.median || !peer?.median || peer.median <= 0) return '';
  return `${(jobq.median / peer.median).toFixed(2)}×`;
}

function table(title: string, r: Results, metrics: string[], rowIds: string[]): string[] {
  const jobq = r.figures.jobq ?? {};
  const labelOf = (id: string) => {
    const s = r.systems.find((x) => x.id === id);
    return s ? `${s.label} ${s.version}` : id;
  };
  const rows = rowIds.filter((id) => r.figures[id] && metrics.some((m) => r.figures[id]![m]));
  if (rows.length === 0) return [];
  const head = ['system', ...metrics.flatMap((m) => [METRICS[m]!.label, 'jobq/x'])];
  const body = rows.map((id) => [labelOf(id), ...metrics.flatMap((m) => [cell(r.figures[id]![m]), id === 'jobq' ? '' : ratio(jobq[m], r.figures[id]![m])])]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return ['', title, line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
}

/** The held scenario's hot tables over the hold, a column per system: dead tuples, growth, jobs waiting; about ten rows. */
function heldSeries(r: Results, ids: string[]): string[] {
  const rows = ids.filter((id) => r.figures[id]?.['held.dead']?.samples?.length);
  if (rows.length === 0) return [];
  const series = rows.map((id) => r.figures[id]!['held.dead']!.samples!);
  const longest = series.reduce((a, b) => (b.length > a.length ? b : a));
  const step = Math.max(1, Math.ceil((longest.length - 1) / 10));
  const picks = longest.map((_, i) => i).filter((i) => i % step === 0 || i === longest.length - 1);
  const cellOf = (x: Sample | undefined) => (x ? `${x.dead.toLocaleString('en-US')} / ${(x.bytes / 1_048_576).toFixed(1)} / ${x.waiting.toLocaleString('en-US')}` : '');
  const head = ['s', ...rows];
  const body = picks.map((i) => [String(longest[i]!.s), ...series.map((s) => cellOf(s[i]))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return ['', 'The hot tables during the hold: dead tuples / MB grown / jobs waiting', line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
}

export function printReport(r: Results): void {
  finalize(r);
  const o = r.options;
  const ids = r.systems.filter((s) => !s.skipped).map((s) => s.id);
  const m = r.machine;
  const out: string[] = [
    '',
    `jobq benchmark — ${r.mode} run, ${r.startedAt}; jobq ${r.versions.jobq} at ${r.versions.jobqCommit ?? '?'}`,
    `machine: ${m.cores} cores (${m.cpu}), ${m.ramGiB} GiB RAM, ${m.os}; Node ${m.node}; load average at start ${m.loadAtStart}` +
      (m.loadAtStart > 0.5 ? ' (other work was running: figures may be low and noisy)' : ''),
    `PostgreSQL ${r.postgres.version} (${r.postgres.embedded ? 'embedded' : 'DATABASE_URL'}; fsync=${r.postgres.settings.fsync}, synchronous_commit=${r.postgres.settings.synchronous_commit}, shared_buffers=${r.postgres.settings.shared_buffers}×8kB)` +
      (r.redis ? `; Redis ${r.redis.version} (appendonly everysec)` : ''),
    `every figure is the median of ${o.reps} repetition(s); "jobq/x" = jobq's figure ÷ that row's (throughput: >1 means jobq is faster; latency: <1 means jobq is faster)`,
    ...table(`Processing throughput, jobs/s (${o.jobs.toLocaleString('en-US')} no-op jobs pre-enqueued, then VACUUM (ANALYZE); just enqueued: 1 proc × 10 without it, no statistics of the new rows; +finished rows: ${(o.finished ?? 0).toLocaleString('en-US')} finished jobs kept, 1 proc × 10; held xmin: another session in BEGIN; SELECT txid_current(), 1 proc × 10)`,
      r, ['process.c10', 'process.c50', 'process.2proc', 'process.fresh', 'process.finished', 'process.xmin'], ids),
    ...table(`A history kept (${(o.finished ?? 0).toLocaleString('en-US')} finished jobs over the default retention, made the way each system stores them), and the system's own retention of its first day, ms (bench/lib/history.ts)`,
      r, ['process.c10', 'process.finished', 'retention.day'], ids.filter((id) => r.figures[id]?.['retention.day'])),
    // (Saved runs from before the held scenario have no holdS: its tables are empty then.)
    ...table(`A transaction holding the xmin for ${o.holdS ?? 0} s under a load of half the full speed before it (bench/lib/held.ts; 1 proc × 10; full speed: ${o.jobs.toLocaleString('en-US')} jobs before the hold and at its end, still held)`,
      r, ['held.before', 'held.drain', 'held.offered', 'held.rate', 'held.waiting', 'held.dead', 'held.deadPerJob', 'held.growth'], ids),
    ...heldSeries(r, ids),
    ...table(`Flow control, jobs/s (jobq only; 1 proc × 10 as the first column, the same ${o.jobs.toLocaleString('en-US')} jobs through a queue policy or groups: bench/lib/flow.ts)`,
      r, ['process.c10', 'process.limited', 'process.rated', 'process.groups'], ids.filter((id) => FLOW_METRICS.some((k) => r.figures[id]?.[k]))),
    // (Saved runs from before the streams scenario have none of its options: its tables are empty then.)
    ...table(`Live events, jobs/s (jobq only: bench/lib/streams.ts; ${(o.streams ?? 0).toLocaleString('en-US')} SSE streams open against an API process, 1% by queue, the rest by one job id each; full speed: 1 proc × 10 through ${o.jobs.toLocaleString('en-US')} jobs)`,
      r, ['streams.full.0', 'streams.full.n', 'streams.paced.0.rate', 'streams.paced.n.rate'], ['jobq']),
    ...table(`Live events, pickup latency at ${(o.streamRate ?? 0).toLocaleString('en-US')} jobs/s for ${o.streamSeconds} s, ms (enqueued by the worker process, handler start − just before the enqueue)`,
      r, ['streams.paced.0.p50', 'streams.paced.n.p50', 'streams.paced.0.p99', 'streams.paced.n.p99'], ['jobq']),
    ...table(`Pickup latency, ms (${o.samples} jobs enqueued one every ${o.intervalMs} ms, idle worker at concurrency 10; handler start − just before the enqueue call, same process)`,
      r, ['latency.p50', 'latency.p95', 'latency.p99'], ids),
    ...table(`PostgreSQL alone, ms (p50, one statement every ${o.intervalMs} ms as above): every pickup through INSERT → NOTIFY → claim contains both steps`,
      r, ['floor.insert', 'floor.roundtrip', 'floor.pickup'], ['postgres']),
    ...table(`Enqueue throughput, jobs/s (${o.singles.toLocaleString('en-US')} single-job calls from 10 concurrent callers; ${o.jobs.toLocaleString('en-US')} jobs in calls of 1,000 from one caller)`,
      r, ['enqueue.single', 'enqueue.batch'], ids),
    ...table(`jobq over HTTP, jobs/s (autocannon ${o.httpSeconds} s: POST /v1/jobs with 50 connections, POST /v1/jobs/batch of 1,000 with 10)`, r, ['http.single', 'http.batch'], ['jobq']),
    ...table(`PostgreSQL alone: pgbench, 10 clients, jobq's schema, ${o.jobs.toLocaleString('en-US')} queued rows (bench/pgbench/*.sql)`, r, ['pgbench.batched', 'pgbench.perJob'], ['pgbench']),
  ];
  const c10 = r.figures.jobq?.['process.c10']?.median;
  for (const k of FLOW_METRICS) {
    const v = r.figures.jobq?.[k]?.median;
    if (c10 && v) out.push(`  jobq ${METRICS[k]!.label}: ${((v / c10) * 100).toFixed(0)}% of 1 proc × 10 without`);
  }
  for (const k of ['pgbench.batched', 'pgbench.perJob']) {
    const p = r.figures.pgbench?.[k]?.median;
    if (c10 && p) out.push(`  jobq 1 proc × 10 reaches ${((c10 / p) * 100).toFixed(0)}% of pgbench "${METRICS[k]!.label}"`);
  }
  const costRows = ids.filter((id) => r.figures[id]?.['process.c10']?.diag);
  if (costRows.length) {
    out.push('', 'What each job cost in the 1 proc × 10 runs (medians): commits in the system\'s database (incl. the harness\'s count polls), WAL of the',
      'whole server, CPU µs of the worker process and of the server processes (PostgreSQL backends + Redis, whole machine)');
    const w = Math.max(...costRows.map((id) => (r.systems.find((x) => x.id === id)?.label ?? id).length));
    out.push(`${'system'.padEnd(w)}  commits/job  WAL bytes/job  worker CPU µs/job  server CPU µs/job`);
    for (const id of costRows) {
      const d = r.figures[id]!['process.c10']!.diag!;
      const m = (k: string) => median(d[k] ?? []);
      const c = m('commitsPerJob');
      const us = (v: number | null) => (v === null ? '—' : Math.round(v * 1000).toLocaleString('en-US'));
      out.push(`${(r.systems.find((x) => x.id === id)?.label ?? id).padEnd(w)}  ${c === null ? '—'.padStart(11) : c.toFixed(3).padStart(11)}  ${num(m('walBytesPerJob'), 'B').padStart(13)}  ${us(m('workerCpuMsPerJob')).padStart(17)}  ${us(m('serverCpuMsPerJob')).padStart(17)}`);
    }
  }
  out.push(...formatVerdicts(checkTargets(r)));
  // The log store, opt-in until it is jobq's default: issue #22's verdicts on its own figures too.
  if (ids.includes('jobq-logstore')) out.push(...formatVerdicts(checkTargets(r, 'jobq-logstore'), 'jobq-logstore', [22]));
  if (r.mode === 'quick') out.push('  (a quick run: too short for these ratios to mean much)');
  out.push('', 'Settings:');
  for (const s of r.systems) out.push(`  ${s.label} ${s.version}: ${s.skipped ? `SKIPPED (${s.skipped})` : s.settings}`);
  const footnotes: string[] = [];
  for (const [id, byMetric] of Object.entries(r.figures)) {
    for (const [k, f] of Object.entries(byMetric)) {
      if (f.error) footnotes.push(`${id} ${k}: failed: ${f.error}`);
      else if (f.note) footnotes.push(`${id} ${k}${f.median !== null ? '*' : ''}: ${f.note}`);
      if (f.extra?.lost) footnotes.push(`${id} latency: ${f.extra.lost} of ${o.samples * o.reps} samples not picked up within 15 s of the last enqueue (counted as 15,000 ms: its quantiles are lower bounds)`);
      if (f.extra?.unpicked) footnotes.push(`${id} ${k}: ${f.extra.unpicked} job(s) not picked up within 15 s of the last enqueue (counted as 15,000 ms)`);
      if (f.extra?.frames) footnotes.push(`${id} ${k}: the streams received ${f.extra.frames.toLocaleString('en-US')} frames over ${o.reps} repetition(s)`);
      if (f.extra?.extraRuns) footnotes.push(`${id} ${k}: ${f.extra.extraRuns} handler run(s) beyond one per job`);
      if (f.extra?.errors) footnotes.push(`${id} ${k}: ${f.extra.errors} HTTP error(s)/non-2xx`);
      if (f.extra?.historySeconds) footnotes.push(`${id} ${k}: its ${(o.finished ?? 0).toLocaleString('en-US')} finished jobs took ${Math.round(f.extra.historySeconds).toLocaleString('en-US')} s to make`);
      if (f.extra?.removed !== undefined) footnotes.push(`${id} ${k}: removed ${f.extra.removed.toLocaleString('en-US')} finished jobs in ${f.extra.calls} call(s)`);
    }
  }
  if (footnotes.length || r.notes.length) out.push('', 'Notes:', ...[...r.notes, ...footnotes].map((n) => `  - ${n}`));
  console.log(out.join('\n'));
}

/** Writes `<mode>-<time>.json`; with `publish`, also latest.json and the chart the README shows. */
export async function writeResults(r: Results, dir: string, publish: boolean): Promise<string[]> {
  finalize(r);
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const files = [path.join(dir, `${r.mode}-${stamp}.json`)];
  await writeFile(files[0]!, json);
  if (publish) {
    files.push(path.join(dir, 'latest.json'), path.join(dir, 'throughput.svg'));
    await writeFile(files[1]!, json);
    await writeFile(files[2]!, renderChart(r));
  }
  return files;
}
