/**
 * `jobq worker --metrics-port`: a bare HTTP server for /metrics, since a worker has no API. With
 * `keys` (`--metrics-auth true` and API keys), a request needs a bearer key holding the `read` scope.
 */
import http from 'node:http';
import { bearerToken } from '../api/auth.ts';
import { grants, type KeyRing } from '../api/keys.ts';
import type { Metrics } from './metrics.ts';

const fail = (res: http.ServerResponse, status: number, kind: string, message: string, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error: { kind, message } }));

export async function serveMetrics(metrics: Metrics, host: string, port: number, keys?: KeyRing): Promise<http.Server & { url: string }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"kind":"not_found","message":"only GET /metrics is served here"}}');
      return;
    }
    if (keys) {
      const key = keys.authenticate(bearerToken(req.headers.authorization));
      if (!key) return fail(res, 401, 'unauthorized', 'a valid API key is required: Authorization: Bearer <key>', { 'www-authenticate': 'Bearer realm="jobq"' });
      if (!grants(key.scopes, 'read')) return fail(res, 403, 'forbidden', `the API key "${key.name}" lacks the scope "read" this route needs`);
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"kind":"internal","message":"metrics unavailable"}}'),
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const addr = server.address() as { port: number };
  return Object.assign(server, { url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}` });
}
