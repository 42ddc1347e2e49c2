/** The client's SSE parser (src/client/sse.ts) against the cases of the WHATWG event stream format. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseParser } from '../../src/client/sse.ts';

const all = (chunks: string[], p = new SseParser()) => chunks.flatMap((c) => p.feed(c));

test('frames: event, multi-line data, own id and the last id; default type message; comments and unknown fields ignored', () => {
  const got = all([': hello\n\nid: 1-0\nevent: started\ndata: {"a":1}\n\ndata: line one\ndata: line two\nfoo: bar\n\n']);
  assert.deepEqual(got, [
    { event: 'started', data: '{"a":1}', id: '1-0', lastEventId: '1-0' },
    { event: 'message', data: 'line one\nline two', id: undefined, lastEventId: '1-0' },
  ]);
});

test('any line ending (CRLF, LF, CR), even split between chunks; one leading space of a value dropped', () => {
  const chunks = ['event: a\r', '\ndata:x\r\n\r', '\nevent: b\rdata:  y\r\r', 'data: z\n', '\n'];
  assert.deepEqual(all(chunks).map((m) => [m.event, m.data]), [['a', 'x'], ['b', ' y'], ['message', 'z']]);
  // Byte by byte, the same.
  const text = 'id: 7-1\r\nevent: succeeded\r\ndata: {"b":2}\r\n\r\n';
  assert.deepEqual(all([...text]), all([text]));
});

test('no data, no event; an empty data line is an event with empty data; retry digits only; an id with NUL is ignored', () => {
  const p = new SseParser('5-0');
  assert.deepEqual(p.feed('event: x\n\nretry: 1500\n\n'), []);
  assert.equal(p.retryMs, 1500);
  p.feed('retry: 2s\n\n');
  assert.equal(p.retryMs, 1500);
  assert.deepEqual(p.feed('data\n\n'), [{ event: 'message', data: '', id: undefined, lastEventId: '5-0' }]);
  assert.deepEqual(p.feed('id: a\0b\ndata: x\n\n')[0]!.lastEventId, '5-0');
  assert.deepEqual(p.feed('id:\ndata: x\n\n')[0], { event: 'message', data: 'x', id: '', lastEventId: '' });
  assert.deepEqual(p.feed('data: incomplete'), [], 'no blank line yet: not dispatched');
});
