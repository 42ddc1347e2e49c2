/** The storage study's table: every candidate side by side, ratios against the first (today's). */
import type { Machine } from '../lib/infra.ts';
import type { HeldXmin, History, Reads, Throughput } from './scenarios.ts';

export interface CandidateResult {
  name: string;
  title: string;
  c10?: Throughput;
  c50?: Throughput;
  fresh?: Throughput;
  history?: History;
  reads?: Reads;
  xmin?: HeldXmin;
  /** Through the real Worker (worker-path.ts). */
  workerC10?: Throughput;
  workerC50?: Throughput;
  workerXmin?: HeldXmin;
}

const n = (x: number | undefined, digits = 0) => (x === undefined || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ratio = (x: number | undefined, base: number | undefined) => (x === undefined || !base ? '' : ` (${(x / base).toFixed(2)}×)`);

export function report(results: CandidateResult[], meta: { machine: Machine; postgres: string; jobs: number }): string {
  const base = results[0];
  const cols = results.map((r) => r.name);
  const row = (label: string, cell: (r: CandidateResult) => string) => `| ${label} | ${results.map(cell).join(' | ')} |`;
  const tp = (pick: (r: CandidateResult) => Throughput | undefined) => (r: CandidateResult) => `${n(pick(r)?.jobsPerS)}${ratio(pick(r)?.jobsPerS, pick(base!)?.jobsPerS)}`;
  const lines = [
    `# Storage design study: ${new Date().toISOString()}`,
    '',
    `PostgreSQL ${meta.postgres}; ${meta.machine.cores} cores (${meta.machine.cpu}), load ${meta.machine.loadAtStart} at start. pgbench, claims of 50, ${n(meta.jobs)} jobs per throughput run; ratios against ${base?.name ?? '—'}.`,
    '',
    `| | ${cols.join(' | ')} |`,
    `|---|${cols.map(() => '---').join('|')}|`,
    row('jobs/s, 10 clients, statistics up to date', tp((r) => r.c10)),
    row('jobs/s, 50 clients', tp((r) => r.c50)),
    row('jobs/s, 10 clients, right after the bulk enqueue', tp((r) => r.fresh)),
    row('server CPU µs per job (10 clients)', (r) => n(r.c10?.serverCpuUsPerJob, 1)),
    row('WAL bytes per job (10 clients)', (r) => n(r.c10?.walBytesPerJob)),
    row('jobs/s with the history kept (10 clients)', (r) => `${n(r.history?.withHistory.jobsPerS)}${ratio(r.history?.withHistory.jobsPerS, r.c10?.jobsPerS)} of its own`),
    row('history kept', (r) => n(r.history?.kept)),
    row('retention of the history older than a day: jobs, ms', (r) => (r.history ? `${n(r.history.retentionRemoved)}, ${n(r.history.retentionMs)} ms` : '—')),
    row('GET one job, ms', (r) => n(r.reads?.getMs, 3)),
    row('list: first page and the next, ms', (r) => n(r.reads?.listMs, 3)),
    row('cancel a queued job, ms', (r) => n(r.reads?.cancelMs, 3)),
    row('retry a failed job, ms', (r) => n(r.reads?.retryMs, 3)),
    row('enqueue one job, ms', (r) => n(r.reads?.enqueueMs, 3)),
  ];
  if (results.some((r) => r.workerC10)) {
    lines.push(
      row('Worker: jobs/s at concurrency 10', tp((r) => r.workerC10)),
      row('Worker: jobs/s at concurrency 50', tp((r) => r.workerC50)),
      row('Worker: server CPU µs per job (10)', (r) => n(r.workerC10?.serverCpuUsPerJob, 1)),
      row('Worker: WAL bytes per job (10)', (r) => n(r.workerC10?.walBytesPerJob)),
    );
  }
  const hold = [
    { by: 'pgbench', pick: (r: CandidateResult) => r.xmin },
    { by: 'Worker', pick: (r: CandidateResult) => r.workerXmin },
  ];
  const after: string[] = [];
  for (const { by, pick } of hold) {
    const held = results.filter((r) => pick(r));
    if (held.length === 0) continue;
    const x = pick(held[0]!)!;
    lines.push(
      row(`${by}, held xmin ${x.minutes} min at ${n(x.rate)} jobs/s: drain after it, jobs/s`, (r) => {
        const h = pick(r);
        return h ? `${n(h.drainHeld.jobsPerS)} (${((h.drainHeld.jobsPerS / h.drainBefore.jobsPerS) * 100).toFixed(0)}% of ${n(h.drainBefore.jobsPerS)})` : '—';
      }),
      row(`${by}, held xmin: hot tables at the end, MB; dead tuples`, (r) => {
        const last = pick(r)?.samples.at(-1);
        return last ? `${n(last.bytes / 2 ** 20, 1)} MB; ${n(last.dead)}` : '—';
      }),
    );
    after.push(
      '',
      `${by}, hot tables during the hold (MB / dead tuples / jobs waiting), every ${x.minutes <= 2 ? '10 s' : 'minute'}:`,
      '',
      `| s | ${held.map((r) => r.name).join(' | ')} |`,
      `|---|${held.map(() => '---').join('|')}|`,
    );
    for (const s of x.samples.filter((t) => x.minutes <= 2 || t.s % 60 < 10)) {
      after.push(`| ${s.s} | ${held.map((r) => {
        const m = pick(r)!.samples.find((t) => Math.abs(t.s - s.s) < 10);
        return m ? `${n(m.bytes / 2 ** 20, 1)} / ${n(m.dead)} / ${n(m.waiting)}` : '—';
      }).join(' | ')} |`);
    }
  }
  lines.push(...after);
  lines.push('', ...results.map((r) => `- **${r.name}**: ${r.title}`), '');
  return lines.join('\n');
}
