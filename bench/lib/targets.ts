/**
 * The issues' targets (#6, #19, #22), as data, checked against one run's figures: every target is a
 * ratio measured in that run, a difference from a figure of that run (pickup latency against this
 * machine's floor), or an absolute figure, so the verdict never mixes runs. A peer is compared at its
 * best figure over its variants (tuned or default, whichever was faster).
 */
import type { Options } from './options.ts';
import type { Figure, Results } from './report.ts';

export interface Target {
  /** The issue that set it. */
  issue: 6 | 19 | 22;
  /** What the issue asks for, in words. */
  label: string;
  /** jobq's metric. */
  metric: string;
  /** Another figure that jobq's is divided by; absent: jobq's figure itself is compared. `system: 'jobq'` is jobq's own (the subject's). */
  versus?: { family?: string; system?: string; metric?: string; name: string };
  /** Another figure of the run that is subtracted from jobq's (in the metric's unit). */
  minus?: { system: string; metric: string; name: string };
  /** The bound: at least (`min`) or at most (`max`), in the ratio or in the metric's unit. */
  min?: number;
  max?: number;
  /** Strictly above `min` (ahead of, rather than level with). */
  strict?: boolean;
  /** A figure of the same run that bounds jobq's from below on this machine, printed beside the verdict. */
  floor?: { system: string; metric: string; name: string };
  /** Says how this run differs from the size the issue asks for (fewer finished jobs, a shorter hold), if it does. */
  sizedBy?: (o: Partial<Options>) => string | undefined;
}

const PROCESSING = ['process.c10', 'process.c50'] as const;
const CONC: Record<string, string> = { 'process.c10': 'concurrency 10', 'process.c50': 'concurrency 50', 'process.2proc': 'two worker processes' };
const SELF = (metric: string, name: string) => ({ system: 'jobq', metric, name });
const FLOOR = { system: 'postgres', metric: 'floor.pickup', name: "this machine's floor: PostgreSQL alone, durable INSERT + round trip" };
const ISSUE_FINISHED = 10_000_000;
const ISSUE_HOLD_S = 600;
const finishedKept = (o: Partial<Options>) => (o.finished !== undefined && o.finished !== ISSUE_FINISHED ? `this run kept ${o.finished.toLocaleString('en-US')}` : undefined);
const held = (o: Partial<Options>) => (o.holdS !== undefined && o.holdS !== ISSUE_HOLD_S ? `this run held it ${o.holdS} s` : undefined);

export const TARGETS: Target[] = [
  ...PROCESSING.flatMap((m): Target[] => [
    { issue: 6, label: `processing, ${CONC[m]}: ≥ 1.2× graphile-worker`, metric: m, versus: { family: 'graphile', name: 'graphile-worker' }, min: 1.2 },
    { issue: 6, label: `processing, ${CONC[m]}: ≥ 3× pg-boss`, metric: m, versus: { family: 'pgboss', name: 'pg-boss' }, min: 3 },
    { issue: 6, label: `processing, ${CONC[m]}: ≥ 2× BullMQ on Redis`, metric: m, versus: { family: 'bullmq-redis', name: 'BullMQ on Redis' }, min: 2 },
    { issue: 6, label: `processing, ${CONC[m]}: ≥ 70% of pgbench's claim-and-finish`, metric: m, versus: { system: 'pgbench', metric: 'pgbench.batched', name: 'pgbench' }, min: 0.7 },
  ]),
  { issue: 6, label: 'pickup latency p50 ≤ 1.5 ms', metric: 'latency.p50', max: 1.5, floor: FLOOR },
  { issue: 6, label: 'pickup latency p99 ≤ 5 ms', metric: 'latency.p99', max: 5 },
  { issue: 6, label: 'enqueue, 1 per call from 10 callers: ≥ 3× pg-boss', metric: 'enqueue.single', versus: { family: 'pgboss', name: 'pg-boss' }, min: 3 },
  { issue: 6, label: 'enqueue, 1 per call from 10 callers: ≥ 3× graphile-worker', metric: 'enqueue.single', versus: { family: 'graphile', name: 'graphile-worker' }, min: 3 },
  { issue: 6, label: 'enqueue, 1 per call from 10 callers: ahead of BullMQ on PostgreSQL', metric: 'enqueue.single', versus: { family: 'bullmq-pg', name: 'BullMQ on PostgreSQL' }, min: 1, strict: true },
  { issue: 6, label: 'HTTP: ≥ 4,000 single enqueues/s (50 connections)', metric: 'http.single', min: 4_000 },
  { issue: 6, label: 'HTTP: ≥ 50,000 jobs/s through /v1/jobs/batch', metric: 'http.batch', min: 50_000 },
  { issue: 6, label: '1,000,000 finished rows: ≥ 90% of the empty table', metric: 'process.finished', versus: SELF('process.c10', 'jobq, empty table'), min: 0.9, sizedBy: (o) => (o.finished !== undefined && o.finished !== 1_000_000 ? `this run kept ${o.finished.toLocaleString('en-US')}` : undefined) },
  { issue: 6, label: 'a transaction held open: no collapse (≥ 50%)', metric: 'process.xmin', versus: SELF('process.c10', 'jobq, no held xmin'), min: 0.5 },
  // Issue #19: open event streams must not slow processing by more than 5%.
  { issue: 19, label: 'event streams open: full-speed processing ≥ 95% of none open', metric: 'streams.full.n', versus: SELF('streams.full.0', 'jobq, no stream'), min: 0.95 },
  { issue: 19, label: 'event streams open: paced pickup p50 ≤ 105% of none open', metric: 'streams.paced.n.p50', versus: SELF('streams.paced.0.p50', 'jobq, no stream'), max: 1.05 },
  // Issue #22 (the storage design: docs/design/storage.md), with jobq's defaults and finished jobs kept for the default retention.
  ...(['process.c10', 'process.c50', 'process.2proc'] as const).map((m): Target => (
    { issue: 22, label: `processing, ${CONC[m]}: ≥ 1.3× graphile-worker`, metric: m, versus: { family: 'graphile', name: 'graphile-worker' }, min: 1.3 })),
  { issue: 22, label: 'processing right after a bulk enqueue (no statistics of the new rows): ≥ 2× graphile-worker', metric: 'process.fresh', versus: { family: 'graphile', name: 'graphile-worker' }, min: 2 },
  { issue: 22, label: 'xmin held 10 minutes under half load: full speed at its end ≥ 90% of before', metric: 'held.drain', versus: SELF('held.before', 'jobq before the hold'), min: 0.9, sizedBy: held },
  { issue: 22, label: 'xmin held 10 minutes under half load: hot tables bounded (≤ 0.05 dead tuples per job run)', metric: 'held.deadPerJob', max: 0.05, sizedBy: held },
  { issue: 22, label: '10,000,000 finished jobs kept: ≥ 95% of the empty table', metric: 'process.finished', versus: SELF('process.c10', 'jobq, empty table'), min: 0.95, sizedBy: finishedKept },
  { issue: 22, label: 'retention of a day of that history < 1 s', metric: 'retention.day', max: 1_000, strict: true, sizedBy: finishedKept },
  { issue: 22, label: 'pickup latency p50 within 0.3 ms of the floor', metric: 'latency.p50', minus: FLOOR, max: 0.3 },
  { issue: 22, label: 'pickup latency p99 ≤ 5 ms', metric: 'latency.p99', max: 5 },
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
  /** How this run differs from the size the issue asks for. */
  sized?: string;
}

const good = (f: Figure | undefined): number | null => (f && !f.error && !f.note && f.median !== null && f.median >= 0 ? f.median : null);
const positive = (f: Figure | undefined): number | null => {
  const v = good(f);
  return v !== null && v > 0 ? v : null;
};

/** The best figure of a family's systems for a metric (skipped systems and stand-in figures excluded). */
function bestOf(r: Results, family: string, metric: string): { id: string; median: number } | undefined {
  let best: { id: string; median: number } | undefined;
  for (const s of r.systems) {
    if (s.family !== family || s.skipped) continue;
    const v = positive(r.figures[s.id]?.[metric]);
    if (v !== null && (!best || v > best.median)) best = { id: s.id, median: v };
  }
  return best;
}

/** Every target's verdict for `subject` (jobq, or another row of jobq such as `jobq-logstore`: its own figures stand for jobq's). */
export function checkTargets(r: Results, subject = 'jobq'): Verdict[] {
  return TARGETS.map((target) => {
    // A ratio or a difference needs a figure above zero; a bound on jobq's own figure takes zero (no dead tuples).
    const mine = target.versus ? positive(r.figures[subject]?.[target.metric]) : good(r.figures[subject]?.[target.metric]);
    const v = target.versus;
    let against: Verdict['against'];
    if (v) {
      const metric = v.metric ?? target.metric;
      if (v.family) against = bestOf(r, v.family, metric);
      else if (v.system) {
        const id = v.system === 'jobq' ? subject : v.system;
        const m = positive(r.figures[id]?.[metric]);
        if (m !== null) against = { id, median: m };
      }
    } else if (target.minus) {
      const m = positive(r.figures[target.minus.system]?.[target.minus.metric]);
      if (m !== null) against = { id: target.minus.system, median: m };
    }
    const needs = v ?? target.minus;
    // A difference to the microsecond: 1.87 − 1.57 ms is 0.3 ms, not 0.30000000000000004.
    const diff = (a: number, b: number) => Math.round((a - b) * 1e6) / 1e6;
    const value = mine === null || (needs && !against) ? null : v ? mine / against!.median : target.minus ? diff(mine, against!.median) : mine;
    let met: boolean | null = null;
    if (value !== null) {
      met = (target.min === undefined || (target.strict ? value > target.min : value >= target.min)) &&
        (target.max === undefined || (target.strict ? value < target.max : value <= target.max));
    }
    const floor = target.floor ? positive(r.figures[target.floor.system]?.[target.floor.metric]) : null;
    const sized = target.sizedBy?.(r.options ?? {});
    return { target, value, against, met, ...(floor !== null ? { floor } : {}), ...(sized ? { sized } : {}) };
  });
}

const UNITS: Record<string, (x: number) => string> = {
  'held.deadPerJob': (x) => `${x.toFixed(3)} dead tuples per job`,
  'retention.day': (x) => `${Math.round(x).toLocaleString('en-US')} ms`,
};

/** One line per target: met or missed, the measured value, and by how much it misses. */
function verdictLine({ target: t, value, against, met, floor, sized }: Verdict): string {
  const fmt = (x: number) =>
    t.versus ? `${x.toFixed(2)}×` : t.minus ? `${x >= 0 ? '+' : ''}${x.toFixed(2)} ms` : UNITS[t.metric]?.(x) ?? (t.metric.startsWith('latency') ? `${x.toFixed(2)} ms` : `${Math.round(x).toLocaleString('en-US')}/s`);
  const size = sized ? ` [${sized}]` : '';
  if (value === null) return `  —       ${t.label}: not measured in this run${size}`;
  const vs = !against ? '' : t.minus ? ` (p50 ${(value + against.median).toFixed(2)} ms, ${t.minus.name}: ${against.median.toFixed(2)} ms)` : ` (vs ${against.id} ${Math.round(against.median).toLocaleString('en-US')})`;
  const bound = t.min ?? t.max!;
  const gap = met ? '' : t.minus ? `; ${(value - bound).toFixed(2)} ms over` : t.max !== undefined ? `; ${((value / bound - 1) * 100).toFixed(0)}% over` : `; ${((1 - value / bound) * 100).toFixed(0)}% short`;
  const below = floor !== undefined ? ` (${t.floor!.name}: ${floor.toFixed(2)} ms)` : '';
  return `  ${met ? 'met   ' : 'MISSED'}  ${t.label}: ${fmt(value)}${vs}${gap}${below}${size}`;
}

const ISSUES = { 6: 'issue #6', 19: 'issue #19 (event streams)', 22: 'issue #22 (storage: docs/design/storage.md)' } as const;

/**
 * The verdicts, by issue. `subject`: another row of jobq whose figures stood for jobq's (the log store
 * while it is opt-in), printed with only the issues named in `issues`.
 */
export function formatVerdicts(all: Verdict[], subject = 'jobq', issues: Target['issue'][] = [6, 19, 22]): string[] {
  const verdicts = all.filter((v) => issues.includes(v.target.issue));
  const missed = verdicts.filter((v) => v.met === false).length;
  const measured = verdicts.filter((v) => v.met !== null).length;
  const who = subject === 'jobq' ? "jobq's defaults" : `${subject} in jobq's place`;
  const which = issues.map((i) => `#${i}`).join(', ');
  const out = ['', `Targets of issues ${which}, with ${who} (${measured - missed} of ${measured} measured met; ratios from this run only)`];
  for (const issue of issues) {
    const mine = verdicts.filter((v) => v.target.issue === issue);
    if (mine.length) out.push(` ${ISSUES[issue]}:`, ...mine.map(verdictLine));
  }
  if (missed) out.push("  what limits each missed target, with profiles: docs/performance.md (\"Where the time goes now\")");
  return out;
}
