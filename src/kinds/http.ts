/**
 * `http`: makes one HTTP(S) request (a webhook call, typically). Connections go through the SSRF
 * guard (ssrf.ts): literal IPs are checked before connecting, host names inside the lookup used for
 * the connection, and every redirect hop again. 2xx succeeds with an excerpt of the body; 408, 429,
 * 5xx, timeouts and network errors are retried; other 4xx and blocked addresses fail permanently.
 * Each request carries `Idempotency-Key: <job id>` so receivers can deduplicate redelivered jobs.
 * Which headers a job may set and which follow a redirect to another origin: see http_headers.ts.
 */
import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { type Static, Type } from '@sinclair/typebox';
import { checkHeaders, HEADER_NAME, headersAfterRedirect } from './http_headers.ts';
import { type HandlerContext, type KindDefinition, PermanentError } from './registry.ts';
import { checkUrlHost, createGuardedLookup, SSRF_BLOCKED } from './ssrf.ts';

export const HttpPayload = Type.Object(
  {
    url: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048, description: 'http or https URL.' }),
    method: Type.Optional(
      Type.Union(
        [
          Type.Literal('GET'),
          Type.Literal('POST'),
          Type.Literal('PUT'),
          Type.Literal('PATCH'),
          Type.Literal('DELETE'),
          Type.Literal('HEAD'),
        ],
        { description: 'Default POST.' },
      ),
    ),
    headers: Type.Optional(
      Type.Record(Type.String({ pattern: HEADER_NAME }), Type.String({ maxLength: 8192, pattern: '^[^\\r\\n\\0]*$' }), {
        maxProperties: 50,
        additionalProperties: false,
        description:
          'Request headers. Host, hop-by-hop headers (Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, ' +
          'Upgrade), Content-Length and Expect are refused. On a redirect to another origin they are all dropped, ' +
          'except those named in keep_headers_on_redirect.',
      }),
    ),
    keep_headers_on_redirect: Type.Optional(
      Type.Array(Type.String({ pattern: HEADER_NAME }), {
        maxItems: 50,
        description:
          'Headers (of `headers`) still sent after a redirect to another origin, for example an API key the ' +
          'target also needs after http→https. Never sent after a redirect from https to http.',
      }),
    ),
    body: Type.Optional(Type.Unknown({ description: 'Any JSON value, sent as application/json.' })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: 300_000, description: 'Default 30000.' })),
  },
  { additionalProperties: false },
);
export type HttpPayload = Static<typeof HttpPayload>;

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body_excerpt: string;
  body_bytes: number;
  body_truncated: boolean;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
export const MAX_REDIRECTS = 5;
const MAX_BODY_BYTES = 1024 * 1024;
const EXCERPT_BYTES = 4096;
const RESULT_HEADERS = [
  'content-type',
  'content-length',
  'etag',
  'last-modified',
  'location',
  'retry-after',
  'x-request-id',
];
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

type Method = NonNullable<HttpPayload['method']>;

function header(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

function withoutHeader(headers: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== name));
}

/** The body and its content type (the job's, else JSON); the type travels with the body, not with the headers. */
function encodeBody(payload: HttpPayload): { body: Buffer; type: string } | undefined {
  if (payload.body === undefined) return undefined;
  const type = header(payload.headers ?? {}, 'content-type');
  // A string sent with a non-JSON content type the job chose goes as it is; everything else as JSON.
  if (typeof payload.body === 'string' && type !== undefined && !/json/i.test(type)) return { body: Buffer.from(payload.body), type };
  return { body: Buffer.from(JSON.stringify(payload.body)), type: type ?? 'application/json' };
}

/** Reads at most MAX_BODY_BYTES (then stops), keeping only the first `keep` bytes. */
async function readBody(res: http.IncomingMessage, keep: number) {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let bytes = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (keptBytes < keep) {
      const part = chunk.subarray(0, keep - keptBytes);
      kept.push(part);
      keptBytes += part.length;
    }
    if (bytes > MAX_BODY_BYTES) break; // leaving the loop destroys the response
  }
  const decoder = new StringDecoder('utf8');
  // StringDecoder holds back a character cut in half at the end of the excerpt instead of mangling it.
  const excerpt = decoder.write(Buffer.concat(kept));
  return { excerpt, bytes: Math.min(bytes, MAX_BODY_BYTES), truncated: bytes > MAX_BODY_BYTES };
}

function pickHeaders(res: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RESULT_HEADERS) {
    const v = res.headers[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function httpKind(opts: { allowHosts: string[] }): KindDefinition<typeof HttpPayload> {
  const allowHosts = [...opts.allowHosts];
  const lookup = createGuardedLookup(allowHosts);
  // Own agents, so no socket opened elsewhere without the guard is ever reused for a job.
  const agents = { 'http:': new http.Agent({ keepAlive: false }), 'https:': new https.Agent({ keepAlive: false }) };

  function blocked(message: string): PermanentError {
    return new PermanentError(`${message}; to allow it, add the host to JOBQ_HTTP_ALLOW_HOSTS`);
  }

  type Request = { url: URL; method: Method; headers: Record<string, string>; body: Buffer | undefined };

  function send({ url, method, headers, body }: Request, signal: AbortSignal) {
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      try {
        checkUrlHost(url, allowHosts);
      } catch (err) {
        return reject(blocked((err as Error).message));
      }
      const mod = url.protocol === 'https:' ? https : http;
      const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
      let req: http.ClientRequest;
      try {
        req = mod.request(url, { method, headers, lookup, agent, signal }, resolve);
      } catch (err) {
        return reject(new PermanentError(`invalid request: ${(err as Error).message}`));
      }
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === SSRF_BLOCKED) reject(blocked(err.message));
        else reject(new Error(`request to ${url.origin} failed: ${err.message}`, { cause: err }));
      });
      req.end(body);
    });
  }

  async function run(payload: HttpPayload, ctx: HandlerContext, signal: AbortSignal): Promise<HttpResult> {
    let url = new URL(payload.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PermanentError('url must be http or https');
    let method: Method = payload.method ?? 'POST';
    // Checked at enqueue too; again here for jobs enqueued before that check existed.
    const [bad] = checkHeaders(payload.headers);
    if (bad) throw new PermanentError(bad.message);
    let encoded = encodeBody(payload);
    /** The headers the job set that the next hop gets (fewer after a redirect to another origin). */
    let own = encoded ? withoutHeader(payload.headers ?? {}, 'content-type') : { ...payload.headers };

    for (let hop = 0; ; hop++) {
      const headers = { ...own };
      if (header(headers, 'user-agent') === undefined) headers['user-agent'] = 'jobq';
      if (header(headers, 'idempotency-key') === undefined) headers['idempotency-key'] = ctx.job.id;
      if (encoded) headers['content-type'] = encoded.type;
      const res = await send({ url, method, headers, body: encoded?.body }, signal);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (REDIRECTS.has(status) && location) {
        res.destroy();
        if (hop >= MAX_REDIRECTS) throw new PermanentError(`too many redirects (more than ${MAX_REDIRECTS})`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new PermanentError(`HTTP ${status} with an invalid Location header`);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new PermanentError(`HTTP ${status} redirects to a ${next.protocol} URL; only http(s) is followed`);
        }
        if (status <= 303 && method !== 'HEAD') {
          method = 'GET';
          encoded = undefined;
          own = withoutHeader(own, 'content-type');
        }
        own = headersAfterRedirect(own, url, next, payload.keep_headers_on_redirect);
        ctx.logger.debug({ status, from: url.origin, to: next.origin, hop: hop + 1 }, 'following redirect');
        url = next;
        continue;
      }
      if ((status >= 200 && status < 300) || status === 304) {
        if (method === 'HEAD') res.resume();
        const read = method === 'HEAD' ? { excerpt: '', bytes: 0, truncated: false } : await readBody(res, EXCERPT_BYTES);
        const { excerpt, bytes, truncated } = read;
        return { status, headers: pickHeaders(res), body_excerpt: excerpt, body_bytes: bytes, body_truncated: truncated };
      }
      const { excerpt } = await readBody(res, 512);
      const text = excerpt.replace(/\s+/g, ' ').trim().slice(0, 200);
      const reason = res.statusMessage ? ` ${res.statusMessage}` : '';
      const message = `HTTP ${status}${reason} from ${url.origin}${text ? `: ${text}` : ''}`;
      if (status === 408 || status === 429 || status >= 500) throw new Error(message);
      throw new PermanentError(message);
    }
  }

  async function handler(payload: HttpPayload, ctx: HandlerContext): Promise<HttpResult> {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const timeoutMs = payload.timeout_ms ?? DEFAULT_HTTP_TIMEOUT_MS;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = AbortSignal.any([ctx.signal, deadline.signal]);
    try {
      return await run(payload, ctx, signal);
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (deadline.signal.aborted) throw new Error(`HTTP request timed out after ${timeoutMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    name: 'http',
    description: 'Makes an HTTP(S) request (default POST with a JSON body), guarded against SSRF; retries 408/429/5xx.',
    payloadSchema: HttpPayload,
    checkPayload: (payload) => checkHeaders(payload.headers),
    defaultMaxAttempts: 5,
    timeoutMs: 60_000,
    handler,
  };
}
