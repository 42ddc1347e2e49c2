/**
 * Making what handlers hand back storable, and writing completions so that one row cannot fail others.
 *
 * PostgreSQL refuses some values JavaScript has no trouble with: U+0000 in jsonb (`\u0000`) and in
 * text, and unpaired UTF-16 surrogates in jsonb (`\ud800`). An `http` job whose 2xx body holds a NUL
 * byte (any PNG) returns such a result. Sent in one completion batch, it made the whole statement fail
 * and every job of the batch ran again (issue #14, item 3). Results are therefore made storable here,
 * and bounded in size; a result jobq had to alter says so itself:
 *
 * - A stored result that jobq altered is always a JSON object with a member `jobq_altered`:
 *   `{ "reasons": [...], ... }`. An object result keeps its members beside it (so `result.status` of an
 *   `http` job still reads the same); any other value is wrapped as `{ "jobq_altered": ..., "value": v }`.
 * - Reasons: `nul_replaced` (each U+0000, in a string or a key, became U+FFFD), `unpaired_surrogate_replaced`
 *   (the same for a lone surrogate), `too_large` (its JSON text was longer than MAX_RESULT_CHARS: only
 *   `excerpt`, the first RESULT_EXCERPT_CHARS of that text, and `original_chars` are kept), `not_json`
 *   (JSON.stringify threw: a BigInt, a cycle; `error` says why), `rejected_by_database` (the database
 *   still refused it; `error` holds its message).
 * - Error texts (last_error, the attempt history) get each U+0000 replaced by U+FFFD and end with
 *   ERROR_TEXT_NOTE when that happened.
 *
 * The common case costs one JSON.stringify per result (as the batch's single stringify did) and one
 * scan of its text for `\u`; only a result holding an escape is looked at again.
 */
import { isJobqError } from '../errors.ts';

/** A result's JSON text longer than this (UTF-16 code units) is stored as an excerpt. */
export const MAX_RESULT_CHARS = 1_048_576;
/** How much of a too-large result's JSON text is kept. */
export const RESULT_EXCERPT_CHARS = 8_192;
/** A completion statement carries at most about this much result text; a batch beyond it is split. */
export const MAX_COMPLETION_CHARS = 16 * 1_048_576;
/** The member that marks a result jobq altered. */
export const ALTERED = 'jobq_altered';
/** Appended to an error text whose NUL characters were replaced. */
export const ERROR_TEXT_NOTE = ' [jobq: NUL characters replaced by U+FFFD]';

export type AlterReason = 'nul_replaced' | 'unpaired_surrogate_replaced' | 'too_large' | 'not_json' | 'rejected_by_database';

interface Alteration {
  reasons: AlterReason[];
  original_chars?: number;
  error?: string;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The JSON text to store as a job's result; undefined when there is none (undefined, a function). */
export function resultJson(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return altered({ reasons: ['not_json'], error: messageOf(err) });
  }
  if (json === undefined) return undefined;
  if (json.length > MAX_RESULT_CHARS) {
    const excerpt = json.slice(0, RESULT_EXCERPT_CHARS).replace(LONE_SURROGATE, '\uFFFD');
    return altered({ reasons: ['too_large'], original_chars: json.length }, { excerpt });
  }
  // JSON.stringify writes U+0000 and lone surrogates as escapes: no `\u`, nothing to clean.
  if (!json.includes('\\u')) return json;
  return cleaned(value, json);
}

/** A placeholder result for a job whose result the database refused even after cleaning. */
export function rejectedJson(err: unknown): string {
  return altered({ reasons: ['rejected_by_database'], error: messageOf(err) });
}

/** Error text as last_error and the attempt history can hold it: no NUL, at most `max` characters. */
export function storableText(text: string, max: number): string {
  let note = '';
  if (text.includes('\0')) {
    text = text.replaceAll('\0', '\uFFFD');
    note = ERROR_TEXT_NOTE;
  }
  if (text.length + note.length <= max) return text + note;
  return `${text.slice(0, max - note.length - 1).replace(LONE_SURROGATE, '\uFFFD')}…${note}`;
}

/**
 * One job's completion as statements/transitions.ts `complete` takes it: its id (a UUID), the claim it
 * completes, and its result's JSON text, if any.
 */
export interface Completion {
  id: string;
  claimSeq: number;
  json: string | undefined;
  /** When the worker started it (epoch ms), for a job that waited in its buffer (the log store's completions use it). */
  launchedAtMs?: number;
}

/** The claim set with results for `complete`: `{"<claim_seq>": [result]}`, `[]` for no result. */
export function claimResultsParam(rows: Completion[]): string {
  let out = '{';
  for (const r of rows) {
    if (out.length > 1) out += ',';
    out += `"${r.claimSeq}":[${r.json ?? ''}]`;
  }
  return `${out}}`;
}

/**
 * Writes completions with `write` (one statement per call; it returns the claims it completed), in
 * statements of at most about MAX_COMPLETION_CHARS of result text. With `split`, a statement that
 * fails for anything but the database being unavailable is halved until the row it cannot store is
 * found; that row is completed with a `rejected_by_database` placeholder instead, and every other row
 * of the batch is written as it was. (Only outside a caller's transaction: inside one, the first error
 * has aborted it.)
 */
export async function writeCompletions<K>(rows: Completion[], write: (rows: Completion[]) => Promise<K[]>, split: boolean): Promise<K[]> {
  const done: K[] = [];
  let start = 0;
  while (start < rows.length) {
    let end = start;
    let chars = 0;
    do chars += rows[end++]!.json?.length ?? 0;
    while (end < rows.length && chars + (rows[end]!.json?.length ?? 0) <= MAX_COMPLETION_CHARS);
    const chunk = start === 0 && end === rows.length ? rows : rows.slice(start, end);
    done.push(...(split ? await writeSplitting(chunk, write) : await write(chunk)));
    start = end;
  }
  return done;
}

async function writeSplitting<K>(rows: Completion[], write: (rows: Completion[]) => Promise<K[]>): Promise<K[]> {
  try {
    return await write(rows);
  } catch (err) {
    if (!isJobqError(err, 'internal')) throw err;
    if (rows.length === 1) {
      const [row] = rows;
      if (row!.json === undefined) throw err; // nothing of this row's own to blame
      return write([{ ...row!, json: rejectedJson(err) }]);
    }
    const mid = rows.length >>> 1;
    return [...(await writeSplitting(rows.slice(0, mid), write)), ...(await writeSplitting(rows.slice(mid), write))];
  }
}

/** Serialises `value` again with NUL and lone surrogates replaced (strings and keys); marks it if that changed anything. */
function cleaned(value: unknown, json: string): string {
  const reasons = new Set<AlterReason>();
  const fix = (s: string): string => {
    let out = s;
    if (out.includes('\0')) {
      out = out.replaceAll('\0', '\uFFFD');
      reasons.add('nul_replaced');
    }
    const wellFormed = out.replace(LONE_SURROGATE, '\uFFFD');
    if (wellFormed !== out) reasons.add('unpaired_surrogate_replaced');
    return wellFormed;
  };
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string') return fix(v);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.some((k) => fix(k) !== k)) return Object.fromEntries(keys.map((k) => [fix(k), (v as Record<string, unknown>)[k]]));
    }
    return v;
  });
  if (reasons.size === 0) return json; // only other escapes (control characters): stored as they are
  return altered({ reasons: [...reasons] }, undefined, text);
}

/** The marked result: `value`'s members beside `jobq_altered` when it is an object, else wrapped. */
function altered(note: Alteration, extra?: Record<string, unknown>, value?: string): string {
  const mark = `{"${ALTERED}":${JSON.stringify(note)}`;
  if (value === undefined) return extra ? `${mark},${JSON.stringify(extra).slice(1)}` : `${mark}}`;
  if (value.startsWith('{') && !value.includes(`"${ALTERED}"`)) return value === '{}' ? `${mark}}` : `${mark},${value.slice(1)}`;
  return `${mark},"value":${value}}`;
}

function messageOf(err: unknown): string {
  let e = err;
  // A JobqError 'internal' hides the database's own words in its cause: those say what was refused.
  if (isJobqError(e) && e.cause instanceof Error) e = e.cause;
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return storableText(text, 500);
}
