/**
 * Durations as people write them: `250ms`, `30s`, `5m`, `2h`, `7d` (what the `ms` package reads,
 * `1.5h` and `2 days` included), or a plain number of milliseconds. The one parser for every duration
 * jobq takes: the `*_MS` settings, the retention, and the CLI's flags.
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
