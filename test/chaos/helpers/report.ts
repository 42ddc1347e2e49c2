/**
 * The suite's profile (short in CI, full otherwise) and each scenario's summary: printed as a table and
 * written as JSON to bench/results/chaos-<scenario>-<timestamp>.json, before the scenario asserts, so
 * a failing run still leaves its numbers behind.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const PROFILE: 'short' | 'full' =
  process.env.JOBQ_CHAOS_PROFILE === 'short' || (process.env.JOBQ_CHAOS_PROFILE === undefined && process.env.CI === 'true') ? 'short' : 'full';
export const SHORT = PROFILE === 'short';
/** `short` in the short profile, else `full`. */
export const pick = <T>(short: T, full: T): T => (SHORT ? short : full);

const RESULTS_DIR = path.resolve('bench/results');

export interface Summary {
  jobs_enqueued: number;
  succeeded: number;
  /** Jobs delivered (run) more than once; null where the scenario has no delivery counter. */
  duplicated_deliveries: number | null;
  /** Jobs the API accepted (201) that are missing or did not end as expected. Must be 0. */
  lost: number;
  /** Jobs left running or waiting at the end. Must be 0. */
  stuck: number;
  max_rss_mb: number;
  /** Upper bound of the 99th percentile of jobq_job_wait_seconds (the histogram bucket it falls in). */
  p99_wait_s: number | null;
}

export function report(scenario: string, summary: Summary, extra: Record<string, unknown> = {}): string {
  const at = new Date();
  const rows: [string, string][] = [
    ...Object.entries(summary).map(([k, v]) => [k, fmt(v)] as [string, string]),
    ...Object.entries(extra)
      .filter(([, v]) => v === null || typeof v !== 'object')
      .map(([k, v]) => [k, fmt(v)] as [string, string]),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const v = Math.max(...rows.map(([, x]) => x.length));
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(v + 2)}+`;
  const table = [
    `chaos ${scenario} (${PROFILE} profile, ${at.toISOString()})`,
    line,
    ...rows.map(([k, x]) => `| ${k.padEnd(w)} | ${x.padStart(v)} |`),
    line,
  ].join('\n');
  console.log(table);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `chaos-${scenario}-${at.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ scenario, profile: PROFILE, finished_at: at.toISOString(), summary, ...extra }, null, 2)}\n`);
  return file;
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  return String(v);
}

/** Percentile (0..100) of a list of numbers; 0 for an empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

export const median = (xs: number[]): number => percentile(xs, 50);
