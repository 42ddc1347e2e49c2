/**
 * HTTP on loopback: a client for the jobq API (never throws: a timeout or a dropped connection is
 * status 0 with `error`), and the counting target server that `http` jobs call, which records every
 * delivery by its Idempotency-Key (the job id).
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
  error?: string;
}

export interface ReqOptions {
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string or Buffer as it is. */
  body?: unknown;
  timeoutMs?: number;
  agent?: http.Agent;
}

export const keepAlive = (maxSockets = 16): http.Agent => new http.Agent({ keepAlive: true, maxSockets });

export function request(base: string, method: string, path: string, opts: ReqOptions = {}): Promise<Res> {
  const started = performance.now();
  const headers: Record<string, string> = { ...opts.headers };
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    payload = typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? Buffer.from(opts.body as string) : Buffer.from(JSON.stringify(opts.body));
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    // Node's client frames DELETE and OPTIONS bodies with neither Content-Length nor chunked encoding,
    // so the server would read the body as the next request: always say how long it is.
    headers['content-length'] = String(payload.length);
  }
  return new Promise<Res>((resolve) => {
    let settled = false;
    const finish = (r: Omit<Res, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, ms: performance.now() - started });
    };
    const req = http.request(`${base}${path}`, { method, headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', (err) => finish({ status: 0, headers: {}, body: '', error: err.message }));
    });
    const timer = setTimeout(() => {
      finish({ status: 0, headers: {}, body: '', error: `timeout after ${opts.timeoutMs} ms` });
      req.destroy();
    }, opts.timeoutMs ?? 15_000);
    req.on('error', (err) => finish({ status: 0, headers: {}, body: '', error: err.message }));
    req.end(payload);
  });
}

export function json<T = any>(res: Res): T {
  return JSON.parse(res.body) as T;
}

/** The error kind of an error response, or undefined. */
export function errorKind(res: Res): string | undefined {
  try {
    return (JSON.parse(res.body) as { error?: { kind?: string } }).error?.kind;
  } catch {
    return undefined;
  }
}

export interface TargetRequest {
  key: string | undefined;
  path: string;
  method: string;
  /** How many times this key was delivered, this one included. */
  n: number;
}

/** What the target answers: a status (0: never answer), optionally after a delay, optionally with headers. */
export type Behaviour = (req: TargetRequest) => { status: number; delayMs?: number; headers?: Record<string, string> };

export interface Target {
  url: string;
  port: number;
  /** Deliveries per Idempotency-Key. */
  deliveries: Map<string, number>;
  /** Every request, keyed or not. */
  requests: TargetRequest[];
  /** When (Date.now()) each key was first delivered. */
  firstAt: Map<string, number>;
  total(): number;
  close(): Promise<void>;
}

/** Starts a counting server on `host` (127.0.0.1 or ::1), port 0 unless given. */
export async function startTarget(behaviour: Behaviour = () => ({ status: 200 }), opts: { host?: string; port?: number; keepRequests?: boolean } = {}): Promise<Target> {
  const deliveries = new Map<string, number>();
  const requests: TargetRequest[] = [];
  const firstAt = new Map<string, number>();
  let total = 0;
  const server = http.createServer((req, res) => {
    total++;
    const key = req.headers['idempotency-key'] as string | undefined;
    const n = key === undefined ? 1 : (deliveries.get(key) ?? 0) + 1;
    if (key !== undefined) deliveries.set(key, n);
    if (key !== undefined && n === 1) firstAt.set(key, Date.now());
    const r: TargetRequest = { key, path: req.url ?? '', method: req.method ?? '', n };
    if (opts.keepRequests !== false) requests.push(r);
    req.resume();
    req.on('end', () => {
      const { status, delayMs, headers } = behaviour(r);
      if (status === 0) return; // hang: never answer (close() ends the connection)
      const answer = () => res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(status < 400 ? 'ok' : 'no');
      if (delayMs) setTimeout(answer, delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 1000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    deliveries,
    requests,
    firstAt,
    total: () => total,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
