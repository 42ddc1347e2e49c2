/**
 * The typed client's one way to make a request: its options, its error, and `call` (a JSON request
 * whose failures all become a JobqClientError). Shared by client.ts, wait.ts and watch.ts.
 */
import type { ErrorBodyWire, ErrorDetailWire } from '../api/schemas/errors.ts';
import type { ErrorKind } from '../errors.ts';

export type ClientErrorKind = ErrorKind | 'network_error' | 'invalid_response' | 'timeout';

export interface ClientOptions {
  /** Where the API is, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /**
   * A request with no complete answer this long after it began fails with kind `network_error`.
   * Default: no limit. Long-polls (waitFor) ask the server to answer within it; streams (watch) are not bounded by it.
   */
  timeoutMs?: number;
}

export class JobqClientError extends Error {
  override readonly name = 'JobqClientError';

  constructor(
    /** HTTP status; 0 when no response arrived (network error, timeout of waitFor). */
    readonly status: number,
    readonly kind: ClientErrorKind,
    message: string,
    readonly details?: ErrorDetailWire[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Why a fetch failed: fetch's own message is a bare "fetch failed"; its cause says ECONNREFUSED or ENOTFOUND. */
export function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.message === 'string' && cause.message !== '') return `${(err as Error).message} (${cause.message})`;
  if (typeof cause?.code === 'string') return `${(err as Error).message} (${cause.code})`;
  return (err as Error)?.message ?? String(err);
}

/** The error an answer that is not a 2xx stands for: its error body's kind, or `invalid_response`. */
export function errorOf(method: string, path: string, status: number, text: string): JobqClientError {
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const e = (parsed as Partial<ErrorBodyWire> | undefined)?.error;
  if (e && typeof e.kind === 'string' && typeof e.message === 'string') {
    return new JobqClientError(status, e.kind, e.message, Array.isArray(e.details) ? e.details : undefined);
  }
  return new JobqClientError(status, 'invalid_response', `${method} ${path} answered HTTP ${status} without an error body`);
}

/** `path?query`: undefined values left out, an array repeated (`id=a&id=b`). */
export function withQuery(path: string, query: object): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(key, String(v));
  }
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

/** A signal aborted when any of these is (AbortSignal.any where the runtime has it). */
export function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  if (given.length <= 1) return given[0];
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(given);
  const ac = new AbortController();
  for (const s of given) {
    if (s.aborted) ac.abort(s.reason);
    else s.addEventListener('abort', () => ac.abort(s.reason), { once: true });
  }
  return ac.signal;
}

export interface Http {
  base: string;
  fetch: typeof globalThis.fetch;
  options: ClientOptions;
  /** Accept and, with an API key, Authorization. */
  headers(extra?: Record<string, string>): Record<string, string>;
  /** One JSON request; its answer (undefined for a 204). An abort by `signal` rejects with its reason. */
  call<T>(method: string, path: string, body?: unknown, extraHeaders?: Record<string, string>, signal?: AbortSignal): Promise<T>;
}

export function http(options: ClientOptions): Http {
  const base = options.baseUrl.replace(/\/+$/, '');
  // Called as a plain function, never as a method of the object below: browsers refuse a fetch whose
  // `this` is not the window ("Illegal invocation").
  const given = options.fetch;
  const fetchFn: typeof globalThis.fetch = given ? (input, init) => given(input, init) : (input, init) => globalThis.fetch(input, init);
  const headers = (extra: Record<string, string> = {}) => {
    const h: Record<string, string> = { accept: 'application/json', ...extra };
    if (options.apiKey !== undefined) h.authorization = `Bearer ${options.apiKey}`;
    return h;
  };
  return {
    base,
    fetch: fetchFn,
    options,
    headers,
    async call<T>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}, signal?: AbortSignal): Promise<T> {
      const h = headers(extraHeaders);
      const init: RequestInit = { method, headers: h };
      const timeout = options.timeoutMs !== undefined ? AbortSignal.timeout(options.timeoutMs) : undefined;
      const s = anySignal([timeout, signal]);
      if (s) init.signal = s;
      if (body !== undefined) {
        h['content-type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      let status = 0;
      let text: string;
      try {
        const res = await fetchFn(`${base}${path}`, init);
        status = res.status;
        text = await res.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const why = timeout?.aborted ? `no answer within ${options.timeoutMs} ms` : reasonOf(err);
        throw new JobqClientError(status, 'network_error', `${method} ${path} failed: ${why}`, undefined, { cause: err });
      }
      if (status < 200 || status > 299) throw errorOf(method, path, status, text);
      if (status === 204) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new JobqClientError(status, 'invalid_response', `${method} ${path} answered HTTP ${status} without a JSON body`);
      }
    },
  };
}
