/**
 * How long finished jobs are kept, per terminal status. Written as one duration for all
 * (`30d`) or per status (`succeeded=7d,failed_permanent=30d,cancelled=30d`; `failed` is short for
 * failed_permanent; `never` keeps them). Durations as src/lib/duration.ts reads them (250ms, 30s, 7d).
 */
import { parseDuration } from '../lib/duration.ts';
import { TERMINAL_STATUSES, type TerminalStatus } from './types.ts';

/** Milliseconds after finishing; null keeps forever. */
export type Retention = Record<TerminalStatus, number | null>;

const DAY = 86_400_000;
export const DEFAULT_RETENTION: Retention = { succeeded: 7 * DAY, failed_permanent: 30 * DAY, cancelled: 30 * DAY };

const keepFor = (text: string): number | null => (text.trim() === 'never' ? null : parseDuration(text));

export function parseRetention(text: string): Retention {
  const out: Retention = { ...DEFAULT_RETENTION };
  if (!text.includes('=')) {
    const all = keepFor(text);
    for (const s of TERMINAL_STATUSES) out[s] = all;
    return out;
  }
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [name, value] = part.split('=').map((x) => x.trim());
    const status = name === 'failed' ? 'failed_permanent' : name;
    if (!(TERMINAL_STATUSES as readonly string[]).includes(status ?? '') || value === undefined) {
      throw new Error(`"${part}": expected <status>=<duration> with status one of ${TERMINAL_STATUSES.join(', ')}`);
    }
    out[status as TerminalStatus] = keepFor(value);
  }
  return out;
}

export function formatRetention(r: Retention): string {
  const fmt = (ms: number | null) => (ms === null ? 'never' : ms % DAY === 0 ? `${ms / DAY}d` : `${ms}ms`);
  return TERMINAL_STATUSES.map((s) => `${s}=${fmt(r[s])}`).join(',');
}
