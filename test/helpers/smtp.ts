/** A real SMTP server on 127.0.0.1 (port chosen by the OS) that keeps what it receives, and a reader for those messages. */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface TestSmtp {
  /** smtp://127.0.0.1:<port>, without credentials. */
  url: string;
  /** Each message as received (raw RFC 5322), in order. */
  messages: string[];
  connections: number;
  close(): Promise<void>;
}

/** No STARTTLS and no logging unless `options` say otherwise; `options` may add onAuth, onMailFrom, onRcptTo. */
export async function startSmtp(options: SMTPServerOptions = {}): Promise<TestSmtp> {
  const state = { messages: [] as string[], connections: 0, url: '' };
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    logger: false,
    ...options,
    onConnect(_session, cb) {
      state.connections++;
      cb();
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.messages.push(Buffer.concat(chunks).toString('utf8'));
        cb();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  return Object.assign(state, { close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
}

/** Splits a raw RFC 5322 message into unfolded headers (lower-case names) and body. */
export function parseMessage(raw: string): { headers: Map<string, string>; body: string } {
  const normal = raw.replace(/\r\n/g, '\n');
  const split = normal.indexOf('\n\n');
  assert.ok(split > 0, 'message has no header/body separator');
  const headers = new Map<string, string>();
  for (const line of normal.slice(0, split).replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `malformed header line ${JSON.stringify(line)}`);
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: normal.slice(split + 2) };
}
