/**
 * Issue #6's targets, as data, checked against one run's figures: every target is a ratio measured
 * in that run (or, for latency and HTTP, an absolute figure), so the verdict never mixes runs.
 * A peer is compared at its best figure over its variants (tuned or default, whichever was faster).
 */
import type { Figure, Results } from './report.ts';

export interface Target {
  /** What the issue asks for, in words. */
  label: string;
  /** jobq's metric. */
  metric: string;
  /** Another figure that jobq's is divided by; absent: jobq's figure itself is compared. */
  versus?: { family?: string; system?: string; metric?: string; name: string };
  /** The bound: at least (`min`) or at most (`max`), in the ratio or in the metric's unit. */
  min?: number;
  max?: number;
  /** Strictly above `min` (ahead of, rather than level with). */
  strict?: boolean;
  /** A figure of the same run that bounds jobq's from below on this machine, printed beside the verdict. */
  floor?: { system: string; metric: string; name: string };
}

const PROCESSING = ['process.c10', 'process.c50'] as const;
const CONC: Record<string, string> = { 'process.c10': 'concurrency 10', 'process.c50': 'concurrency 50' };

export const TARGETS: Target[] = [
  ...PROCESSING.flatMap((m): Target[] => [
    { label: `processing, ${CONC[m]}: ≥ 1.2× graphile-worker`, metric: m, versus: { family: 'graphile', name: 'graphile-worker' }, min: 1.2 },
    { label: `processing, ${CONC[m]}: ≥ 3× pg-boss`, metric: m, versus: { family: 'pgboss', name: 'pg-boss' }, min: 3 },
    { label: `processing, ${CONC[m]}: ≥ 2× BullMQ on Redis`, metric: m, versus: { family: 'bullmq-redis', name: 'BullMQ on Redis' }, min: 2 },
    { label: `processing, ${CONC[m]}: ≥ 70% of pgbench's claim-and-finish`, metric: m, versus: { system: 'pgbench', metric: 'pgbench.batched', name: 'pgbench' }, min: 0.7 },
  ]),
  {
    label: 'pickup latency p50 ≤ 1.5 ms', metric: 'latency.p50', max: 1.5,
    floor: { system: 'postgres', metric: 'floor.pickup', name: "this machine's floor: PostgreSQL alone, durable INSERT + round trip" },
  },
  { label: 'pickup latency p99 ≤ 5 ms', metric: 'latency.p99', max: 5 },
  { label: 'enqueue, 1 per call from 10 callers: ≥ 3× pg-boss', metric: 'enqueue.single', versus: { family: 'pgboss', name: 'pg-boss' }, min: 3 },
  { label: 'enqueue, 1 per call from 10 callers: ≥ 3× graphile-worker', metric: 'enqueue.single', versus: { family: 'graphile', name: 'graphile-worker' }, min: 3 },
  { label: 'enqueue, 1 per call from 10 callers: ahead of BullMQ on PostgreSQL', metric: 'enqueue.single', versus: { family: 'bullmq-pg', name: 'BullMQ on PostgreSQL' }, min: 1, strict: true },
  { label: 'HTTP: ≥ 4,000 single enqueues/s (50 connections)', metric: 'http.single', min: 4_000 },
  { label: 'HTTP: ≥ 50,000 jobs/s through /v1/jobs/batch', metric: 'http.batch', min: 50_000 },
  { label: '1,000,000 finished rows: ≥ 90% of the empty table', metric: 'process.finished', versus: { system: 'jobq', metric: 'process.c10', name: 'jobq, empty table' }, min: 0.9 },
  { label: 'a transaction held open: no collapse (≥ 50%)', metric: 'process.xmin', versus: { system: 'jobq', metric: 'process.c10', name: 'jobq, no held xmin' }, min: 0.5 },
  // Issue #19: open event streams must not slow processing by more than 5%.
  { label: 'event streams open: full-speed processing ≥ 95% of none open', metric: 'streams.full.n', versus: { system: 'jobq', metric: 'streams.full.0', name: 'jobq, no stream' }, min: 0.95 },
  { label: 'event streams open: paced pickup p50 ≤ 105% of none open', metric: 'streams.paced.n.p50', versus: { system: 'jobq', metric: 'streams.paced.0.p50', name: 'jobq, no stream' }, max: 1.05 },
];

export interface Verdict {
  target: Target;
  /** null: not measured in this run (a scenario or system left out, or a failed run). */
  value: number | null;
  /** The peer figure used, for the record. */
  against?: { id: string; median: number };
  met: boolean | null;
  /** The target's floor figure, when measured. */
  floor?: number;
}

const good = (f: Figure | undefined): number | null => (f && !f.error && !f.note && f.median !== null && f.median > 0 ? f.median : null);

/** The best figure of a family's systems for a metric (skipped systems and stand-in figures excluded). */
function bestOf(r: Results, family: string, metric: string): { id: string; median: number } | undefined {
  let best: { id: string; median: number } | undefined;
  for (const s of r.systems) {
    if (s.family !== family || s.skipped) continue;
    const v = good(r.figures[s.id]?.[metric]);
    if (v !== null && (!best || v > best.median)) best = { id: s.id, median: v };
  }
  return best;
}

export function checkTargets(r: Results): Verdict[] {
  return TARGETS.map((target) => {
    const mine = good(r.figures.jobq?.[target.metric]);
    const v = target.versus;
    let against: Verdict['against'];
    if (v) {
      const metric = v.metric ?? target.metric;
      if (v.family) against = bestOf(r, v.family, metric);
      else if (v.system) {
        const m = good(r.figures[v.system]?.[metric]);
        if (m !== null) against = { id: v.system, median: m };
      }
    }
    const value = mine === null || (v && !against) ? null : v ? mine / against!.median : mine;
    let met: boolean | null = null;
    if (value !== null) {
      met = (target.min === undefined || (target.strict ? value > target.min : value >= target.min)) && (target.max === undefined || value <= target.max);
    }
    const floor = target.floor ? good(r.figures[target.floor.system]?.[target.floor.metric]) : null;
    return { target, value, against, met, ...(floor !== null ? { floor } : {}) };
  });
}

/** One line per target: met or missed, the measured value, and by how much it misses. */
export function formatVerdicts(verdicts: Verdict[]): string[] {
  const fmt = (t: Target, x: number) => (t.versus ? `${x.toFixed(2)}×` : t.metric.startsWith('latency') ? `${x.toFixed(2)} ms` : `${Math.round(x).toLocaleString('en-US')}/s`);
  const lines = verdicts.map(({ target: t, value, against, met, floor }) => {
    if (value === null) return `  —       ${t.label}: not measured in this run`;
    const vs = against ? ` (vs ${against.id} ${Math.round(against.median).toLocaleString('en-US')})` : '';
    const bound = t.min ?? t.max!;
    const gap = met ? '' : t.max !== undefined ? `; ${((value / bound - 1) * 100).toFixed(0)}% over` : `; ${((1 - value / bound) * 100).toFixed(0)}% short`;
    const below = floor !== undefined ? ` (${t.floor!.name}: ${fmt(t, floor)})` : '';
    return `  ${met ? 'met   ' : 'MISSED'}  ${t.label}: ${fmt(t, value)}${vs}${gap}${below}`;
  });
  const missed = verdicts.filter((v) => v.met === false).length;
  const measured = verdicts.filter((v) => v.met !== null).length;
  return [
    '',
    `Targets of issues #6 and #19 (event streams), with jobq's defaults (${measured - missed} of ${measured} measured met; ratios from this run only)`,
    ...lines,
    ...(missed ? ["  what limits each missed target, with profiles: docs/performance.md (\"Where the time goes now\")"] : []),
  ];
}
