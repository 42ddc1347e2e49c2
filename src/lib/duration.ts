/**
 * Durations as people write them: `250ms`, `30s`, `5m`, `2h`, `7d` (what the `ms` package reads,
 * `1.5h` and `2 days` included), or a plain number of milliseconds. The one parser for every duration
 * jobq takes: the `*_MS` settings, the retention, and the CLI's flags.
 * And the way back, for showing one.
 */
import ms from 'ms';

/** Whole milliseconds, 0 or more; throws an Error quoting `text` for anything else. */
export function parseDuration(text: string): number {
  const value = text.trim() === '' ? undefined : ms(text.trim() as ms.StringValue);
  if (value === undefined || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`"${text}" is not a duration: use 250ms, 30s, 5m, 2h, 7d or a number of milliseconds`);
  }
  return value;
}

const UNITS: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]];

/** Milliseconds in the largest unit that holds them exactly (1000 → "1s", 3600000 → "1h", 1500 → "1500ms"); parseDuration reads it back. */
export function formatDuration(millis: number): string {
  const [unit, size] = UNITS.find(([, size]) => millis !== 0 && millis % size === 0) ?? ['ms', 1];
  return `${millis / size}${unit}`;
}

/** Milliseconds rounded to their largest unit, for reading at a glance: 12500 → "13s", 7201000 → "2h". */
export const roughDuration = (millis: number): string => ms(Math.round(millis));
