/**
 * bench/results/throughput.svg, written by hand (no chart library): a grouped bar chart of processing
 * throughput per scenario and system, and a log-scale chart of pickup latency (p50/p95/p99) per system,
 * under a header naming the machine, PostgreSQL and every system's version.
 */
import type { Results } from './lib/report.ts';

const COLORS = ['#2563eb', '#dc2626', '#f87171', '#059669', '#6ee7b7', '#d97706', '#fcd34d', '#7c3aed', '#c4b5fd', '#64748b'];
const PROCESS = [
  ['process.c10', '1 proc × 10'],
  ['process.c50', '1 proc × 50'],
  ['process.2proc', '2 procs × 10'],
  ['process.finished', '+finished rows'],
  ['process.xmin', 'held xmin'],
] as const;
const LATENCY = [
  ['latency.p50', 'p50'],
  ['latency.p95', 'p95'],
  ['latency.p99', 'p99'],
] as const;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(0)}k` : v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v >= 10 ? v.toFixed(0) : v.toFixed(1));

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

/** A "nice" axis maximum and step for a linear axis. */
function niceAxis(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  return { top: Math.ceil(max / step) * step, step };
}

export function renderChart(r: Results): string {
  const systems = r.systems.filter((s) => !s.skipped && r.figures[s.id]);
  const color = new Map(systems.map((s, i) => [s.id, COLORS[i % COLORS.length]!]));
  const W = 1100;
  const out: string[] = [];
  let y = 28;
  out.push(text(20, y, `jobq vs pg-boss, graphile-worker, BullMQ — ${r.mode} run, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC`, 'font-size="18" font-weight="bold"'));
  const m = r.machine;
  const lines = [
    `Machine: ${m.cores} cores (${m.cpu}), ${m.ramGiB} GiB RAM; Node ${m.node}; PostgreSQL ${r.postgres.version}${r.postgres.embedded ? ' (embedded)' : ''}, fsync=${r.postgres.settings.fsync ?? '?'}, synchronous_commit=${r.postgres.settings.synchronous_commit ?? '?'}${r.redis ? `; Redis ${r.redis.version}` : ''}`,
    `Versions: jobq ${r.versions.jobq} (${r.versions.jobqCommit ?? '?'}), pg-boss ${r.versions['pg-boss']}, graphile-worker ${r.versions['graphile-worker']}, BullMQ ${r.versions.bullmq} (ioredis ${r.versions.ioredis}, pg ${r.versions.pg})`,
    `${r.options.jobs.toLocaleString('en-US')} no-op jobs per run; median of ${r.options.reps}; +finished rows = ${r.options.finished.toLocaleString('en-US')} finished jobs already in the table; held xmin = an open transaction with an xid for the whole run`,
  ];
  for (const l of lines) out.push(text(20, (y += 20), l, 'font-size="12" fill="#334155"'));

  // Legend.
  y += 16;
  let lx = 20;
  for (const s of systems) {
    const label = `${s.label} ${s.version}`;
    const w = 24 + label.length * 6.6;
    if (lx + w > W - 20) {
      lx = 20;
      y += 18;
    }
    out.push(`<rect x="${lx}" y="${y - 10}" width="12" height="12" fill="${color.get(s.id)}"/>`, text(lx + 16, y, label, 'font-size="12"'));
    lx += w;
  }

  // Throughput: groups of bars.
  y += 30;
  out.push(text(20, y, 'Processing throughput (jobs/s, higher is better)', 'font-size="15" font-weight="bold"'));
  const t = { x: 80, y: y + 15, w: W - 110, h: 300 };
  const values = PROCESS.flatMap(([k]) => systems.map((s) => r.figures[s.id]?.[k]?.median ?? 0));
  const ax = niceAxis(Math.max(0, ...values));
  for (let v = 0; v <= ax.top + 1e-9; v += ax.step) {
    const gy = t.y + t.h - (v / ax.top) * t.h;
    out.push(`<line x1="${t.x}" x2="${t.x + t.w}" y1="${gy.toFixed(1)}" y2="${gy.toFixed(1)}" stroke="#e2e8f0"/>`, text(t.x - 6, gy + 4, fmt(v), 'font-size="11" text-anchor="end"'));
  }
  const groupW = t.w / PROCESS.length;
  const barW = Math.min(22, (groupW - 20) / Math.max(1, systems.length));
  PROCESS.forEach(([k, label], g) => {
    const gx = t.x + g * groupW + (groupW - barW * systems.length) / 2;
    systems.forEach((s, i) => {
      const f = r.figures[s.id]?.[k];
      const v = f?.median ?? 0;
      const h = (v / ax.top) * t.h;
      const bx = gx + i * barW;
      if (v > 0) {
        out.push(`<rect x="${bx.toFixed(1)}" y="${(t.y + t.h - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${color.get(s.id)}"><title>${esc(`${s.label}: ${Math.round(v)} jobs/s${f?.note ? ` (${f.note})` : ''}`)}</title></rect>`);
        out.push(text(bx + barW / 2 - 1, t.y + t.h - h - 4, fmt(v) + (f?.note ? '*' : ''), `font-size="9" text-anchor="middle"`));
      } else {
        out.push(text(bx + barW / 2 - 1, t.y + t.h - 4, f?.error ? '✗' : 'n/a', 'font-size="8" text-anchor="middle" fill="#94a3b8"'));
      }
    });
    out.push(text(t.x + g * groupW + groupW / 2, t.y + t.h + 18, label, 'font-size="12" text-anchor="middle"'));
  });
  out.push(`<line x1="${t.x}" x2="${t.x + t.w}" y1="${t.y + t.h}" y2="${t.y + t.h}" stroke="#334155"/>`);
  out.push(text(t.x, t.y + t.h + 36, '* +finished rows: graphile-worker and BullMQ with removeOnComplete keep no finished jobs, so their 1 proc × 10 figure is shown. pg-boss defaults run fewer jobs (1 job per 2 s poll per fetch loop; see the JSON notes).', 'font-size="10" fill="#475569"'));

  // Latency: per system, p50/p95/p99 on a log axis.
  y = t.y + t.h + 70;
  out.push(text(20, y, `Pickup latency (ms, log scale, lower is better; ${r.options.samples} jobs one every ${r.options.intervalMs} ms to an idle worker)`, 'font-size="15" font-weight="bold"'));
  const l = { x: 80, y: y + 15, w: W - 110, h: 220 };
  const lat = systems.flatMap((s) => LATENCY.map(([k]) => r.figures[s.id]?.[k]?.median ?? 0)).filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.max(0.01, Math.min(1, ...lat))));
  const hi = Math.ceil(Math.log10(Math.max(10, ...lat)));
  const ly = (v: number) => l.y + l.h - ((Math.log10(v) - lo) / (hi - lo)) * l.h;
  for (let e = lo; e <= hi; e++) {
    out.push(`<line x1="${l.x}" x2="${l.x + l.w}" y1="${ly(10 ** e).toFixed(1)}" y2="${ly(10 ** e).toFixed(1)}" stroke="#e2e8f0"/>`, text(l.x - 6, ly(10 ** e) + 4, fmt(10 ** e), 'font-size="11" text-anchor="end"'));
  }
  const sysW = l.w / Math.max(1, systems.length);
  const lb = Math.min(18, (sysW - 16) / 3);
  systems.forEach((s, i) => {
    const sx = l.x + i * sysW + (sysW - lb * 3) / 2;
    LATENCY.forEach(([k, label], j) => {
      const v = r.figures[s.id]?.[k]?.median ?? 0;
      const bx = sx + j * lb;
      if (v > 0) {
        const top = ly(Math.max(v, 10 ** lo));
        out.push(`<rect x="${bx.toFixed(1)}" y="${top.toFixed(1)}" width="${(lb - 2).toFixed(1)}" height="${(l.y + l.h - top).toFixed(1)}" fill="${color.get(s.id)}" fill-opacity="${1 - j * 0.3}"><title>${esc(`${s.label} ${label}: ${v.toFixed(2)} ms`)}</title></rect>`);
        out.push(text(bx + lb / 2 - 1, top - 3, fmt(v), 'font-size="8" text-anchor="middle"'));
      }
      out.push(text(bx + lb / 2 - 1, l.y + l.h + 11, label, 'font-size="8" text-anchor="middle" fill="#475569"'));
    });
    const short = s.label.replace(' on PostgreSQL', '/PG').replace(' on Redis', '/Redis').replace('graphile-worker', 'graphile');
    out.push(text(l.x + i * sysW + sysW / 2, l.y + l.h + 26, short, 'font-size="10" text-anchor="middle"'));
  });
  out.push(`<line x1="${l.x}" x2="${l.x + l.w}" y1="${l.y + l.h}" y2="${l.y + l.h}" stroke="#334155"/>`);
  const H = l.y + l.h + 45;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
