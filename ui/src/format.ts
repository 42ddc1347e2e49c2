/** How the dashboard writes ids, times, durations and numbers. Times are shown in the viewer's zone. */

/** The end of an id: a UUID v7 starts with its creation time, the same for jobs made together; its end is random. */
export const shortId = (id: string) => `…${id.slice(-8)}`;

const nf = new Intl.NumberFormat();
export const count = (n: number) => nf.format(n);

/** 850 ms, 4.2 s, 3 min 12 s, 2 h 5 min, 3 d 4 h. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const neg = ms < 0 ? '-' : '';
  ms = Math.abs(ms);
  if (ms < 1000) return `${neg}${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${neg}${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${neg}${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${neg}${h} h ${m % 60} min`;
  return `${neg}${Math.floor(h / 24)} d ${h % 24} h`;
}

/** "3 min ago", "in 12 s", "just now". */
export function relative(iso: string, now = Date.now()): string {
  const diff = Date.parse(iso) - now;
  if (Math.abs(diff) < 1000) return 'just now';
  return diff < 0 ? `${duration(-diff)} ago` : `in ${duration(diff)}`;
}

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
/** The instant in the viewer's zone. */
export const localTime = (iso: string) => dtf.format(new Date(iso));

/** The milliseconds between two instants, or undefined when either is missing. */
export function between(from: string | null | undefined, to: string | null | undefined): number | undefined {
  if (!from || !to) return undefined;
  return Date.parse(to) - Date.parse(from);
}

/** An attempt's error text: its first line is the message, the rest (when present) the stack. */
export function splitError(text: string): { message: string; stack: string } {
  const nl = text.indexOf('\n');
  return nl < 0 ? { message: text, stack: '' } : { message: text.slice(0, nl), stack: text.slice(nl + 1) };
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
