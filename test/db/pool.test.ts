/**
 * The shared pool's clients (src/db/pool.ts) ask, once connected, whether they reach PostgreSQL straight
 * and set their statement timeout, before pg-pool listens to them. A connection lost in that moment
 * used to emit an 'error' nobody heard, which ends the process: the chaos suite's blocking-handler
 * scenario lost a worker that way (pg-pool's connection timeout, passed while the event loop was
 * blocked, destroyed a connection being prepared). Here a proxy ends the connection at its first query.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { createPool } from '../../src/db/pool.ts';
import { directUrl, freshDatabase } from '../helpers/fixtures.ts';

/**
 * A TCP proxy to `target` that ends the first connection as soon as its client sends anything after
 * the startup message (the first query: trust authentication, no TLS), and passes the rest through.
 */
async function dropsFirstQuery(target: URL): Promise<{ url: string; dropped: () => number; close: () => Promise<void> }> {
  // The server's URL may name a Unix socket's folder (the embedded server's: ?host=/tmp/...&port=...).
  const folder = target.searchParams.get('host');
  const port = Number(target.searchParams.get('port') ?? (target.port || 5432));
  const socket = folder?.startsWith('/') ? path.join(folder, `.s.PGSQL.${port}`) : undefined;
  let connections = 0;
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const first = ++connections === 1;
    const upstream = socket ? net.connect(socket) : net.connect(port, target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    let messages = 0;
    client.on('data', (d) => {
      if (first && ++messages > 1) {
        dropped++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.searchParams.delete('host');
  url.searchParams.delete('port');
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: url.toString(),
    dropped: () => dropped,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

test('a connection lost while the pool prepares it fails that checkout; the process goes on and the next one works', async (t) => {
  const db = await freshDatabase();
  const proxy = await dropsFirstQuery(new URL(directUrl(db.url)));
  t.after(() => proxy.close());
  const pool = createPool(proxy.url, { max: 2 });
  t.after(() => pool.end());

  await assert.rejects(pool.query('SELECT 1'), /Connection terminated unexpectedly/);
  assert.equal(proxy.dropped(), 1, 'the proxy ended the connection at its first query');
  const { rows } = await pool.query<{ n: number }>('SELECT 41 + 1 AS n');
  assert.equal(rows[0]!.n, 42);
});

test('a query answered while the event loop was blocked past the query timeout succeeds: the answer is read before the timeout is judged', async (t) => {
  const db = await freshDatabase();
  // The server's own statement timeout longer, so that only the client's timeout can end the last query.
  const pool = createPool(directUrl(db.url), { max: 1, queryTimeoutMs: 200, statementTimeoutMs: 10_000 });
  t.after(() => pool.end());
  const client = await pool.connect();
  try {
    const answer = client.query<{ n: number }>('SELECT 6 * 7 AS n');
    const until = Date.now() + 600; // a handler's synchronous work: three timeouts long
    while (Date.now() < until) {
      // the event loop does nothing else; the server answers meanwhile
    }
    assert.equal((await answer).rows[0]!.n, 42);
  } finally {
    client.release();
  }
  // And a query the server does not answer still times out.
  await assert.rejects(pool.query('SELECT pg_sleep(2)'), /Query read timeout/);
});
