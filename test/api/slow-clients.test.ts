/**
 * Slow clients cannot hold sockets (issue 14, item 8): 2,000 loopback sockets sending one byte a
 * second (half dribbling their headers, half their body) are answered 408 and closed once the
 * headers / request timeout passes, while normal requests keep succeeding; beyond maxConnections a
 * connection is closed as it arrives. Short bounds (2 s, 3 s) keep the test quick.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { buildTestApp, eventually, listen } from '../helpers/fixtures.ts';

interface Slow {
  socket: net.Socket;
  openedAt: number;
  closedAt?: number;
  sent: number;
  received: string;
  closedByUs: boolean;
}

async function openSlow(port: number, text: string): Promise<Slow> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const slow: Slow = { socket, openedAt: Date.now(), sent: 0, received: '', closedByUs: false };
  socket.on('data', (d) => (slow.received += d.toString()));
  socket.on('error', () => {});
  socket.on('close', () => (slow.closedAt = Date.now()));
  slow.socket.write(text[slow.sent++]!);
  return slow;
}

test('2,000 sockets sending a byte a second are closed within the timeouts while normal requests succeed', { timeout: 120_000 }, async () => {
  const headersTimeoutMs = 2_000;
  const requestTimeoutMs = 3_000;
  const { app } = await buildTestApp({ config: { headersTimeoutMs, requestTimeoutMs, maxConnections: 5_000 } });
  const base = await listen(app);
  const port = Number(new URL(base).port);
  const slowHeaders = 'GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ' + 'a'.repeat(200) + '\r\n\r\n';
  const slowBody = 'POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n';
  const sockets: Slow[] = [];
  const texts = new Map<Slow, string>();
  // One byte a second to every open socket (a slow-body socket sends its headers at once, then its body byte by byte).
  const dribble = setInterval(() => {
    for (const s of sockets) {
      if (s.closedAt !== undefined || !s.socket.writable) continue;
      const text = texts.get(s)!;
      s.socket.write(s.sent < text.length ? text[s.sent++]! : 'x');
    }
  }, 1_000);
  // Normal requests all along: each must succeed.
  let normal = 0;
  let stop = false;
  const failures: string[] = [];
  const normalLoop = (async () => {
    while (!stop) {
      const res = await fetch(`${base}/v1/stats`).catch((err: Error) => err);
      if (res instanceof Error || res.status !== 200) failures.push(res instanceof Error ? res.message : String(res.status));
      else normal++;
      if (res instanceof Response) await res.text();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    for (let i = 0; i < 2_000; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          const body = (i + j) % 2 === 1;
          const s = await openSlow(port, body ? slowBody : slowHeaders);
          if (body) {
            s.socket.write(slowBody.slice(1));
            s.sent = slowBody.length;
            texts.set(s, slowBody + '{'.repeat(300));
          } else {
            texts.set(s, slowHeaders);
          }
          return s;
        }),
      );
      sockets.push(...batch);
    }
    // Hang guard, not a measurement: without timeouts these sockets were never closed.
    const deadline = Date.now() + 30_000;
    while (sockets.some((s) => s.closedAt === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  } finally {
    stop = true;
    clearInterval(dribble);
    await normalLoop;
    for (const s of sockets) {
      if (s.closedAt === undefined) {
        s.closedByUs = true;
        s.socket.destroy();
      }
    }
  }
  const open = sockets.filter((s) => s.closedByUs).length;
  assert.equal(open, 0, `${open} of 2000 slow sockets were still open after 30 s`);
  for (const s of sockets) {
    assert.match(s.received, /^HTTP\/1\.1 408 /, `answered 408: ${JSON.stringify(s.received.slice(0, 60))}`);
    assert.ok(s.closedAt! - s.openedAt >= headersTimeoutMs - 50, 'not closed before its time');
  }
  const slowest = Math.max(...sockets.map((s) => s.closedAt! - s.openedAt));
  assert.ok(slowest > 1_000, 'the sockets were really slow (they dribbled for more than a second)');
  assert.deepEqual(failures, [], 'every normal request succeeded');
  assert.ok(normal >= 10, `normal requests were served meanwhile (${normal})`);
});

/** Resolves true once `socket` closed, false after `ms` (a hang guard: without the limits it never closed). */
const closedWithin = (socket: net.Socket, ms: number) =>
  new Promise<boolean>((resolve) => {
    if (socket.closed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

test('beyond maxConnections a new connection is closed at once; once slots free up, requests succeed again', { timeout: 60_000 }, async () => {
  const { app } = await buildTestApp({ config: { maxConnections: 20, headersTimeoutMs: 1_000, requestTimeoutMs: 1_000 } });
  const base = await listen(app);
  const port = Number(new URL(base).port);
  const sockets: net.Socket[] = [];
  try {
    await limitsHold();
  } finally {
    sockets.forEach((s) => s.destroy()); // else app.close() would wait for them
  }
  async function limitsHold() {
    const connect = () => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
      return s;
    };
    const held: net.Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const s = connect();
      s.resume(); // read what comes (the 408), so the server's close is seen
      await new Promise<void>((resolve) => s.once('connect', resolve));
      held.push(s);
    }
    const count = () => new Promise<number>((resolve, reject) => app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    await eventually(async () => ((await count()) >= 20 ? true : undefined), 10_000, 'the server to hold 20 connections', 10);
    const extra = connect();
    let got = '';
    extra.on('data', (d) => (got += d.toString()));
    extra.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(await closedWithin(extra, 10_000), 'the 21st connection was closed');
    assert.equal(got, '', 'the 21st connection was closed without an answer');
    // The held sockets never send a request line: the headers timeout frees their slots.
    const closed = await Promise.all(held.map((s) => closedWithin(s, 20_000)));
    assert.ok(closed.every(Boolean), 'idle connections were closed by the headers timeout');
    await eventually(async () => ((await count()) < 20 ? true : undefined), 10_000, 'the closed connections to leave the server', 10);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  }
});
