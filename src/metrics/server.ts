/** `jobq worker --metrics-port`: a bare HTTP server for /metrics, since a worker has no API. */
import http from 'node:http';
import type { Metrics } from './metrics.ts';

export async function serveMetrics(metrics: Metrics, host: string, port: number): Promise<http.Server & { url: string }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"kind":"not_found","message":"only GET /metrics is served here"}}');
      return;
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
