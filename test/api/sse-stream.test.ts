/**
 * SseStream (src/api/sse.ts): a stream that opened with a job's state sends no event that state
 * already reflects, whether it arrived before the stream started (held) or after (live): the claim
 * commits before its `started` is published, so a state read in between says running and the event
 * comes after it. Progress, and anything that says more, still go out.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HubEvent } from '../../src/events/index.ts';
import { reflects, SseStream } from '../../src/api/sse.ts';

let seq = 0;
function ev(type: string, status: string, attempt: number, id = 'job-1'): HubEvent {
  seq++;
  return { eventId: `${seq}-0`, seq, arrivedAt: 0, data: { type, id, queue: 'q', kind: 'k', group: null, status, attempt, at: '2030-01-01T00:00:00.000Z' } as HubEvent['data'] };
}

/** The event types of the frames the stream has sent so far. */
function sent(stream: SseStream): string[] {
  const out: string[] = [];
  for (let chunk = stream.read(); chunk !== null; chunk = stream.read()) out.push(String(chunk));
  return out.join('').split('\n\n').filter((f) => f.includes('event: ')).map((f) => /event: (\w+)/.exec(f)![1]!);
}

test('a stream opened with a state drops the events that led to it, held or live, and sends what says more', () => {
  const stream = new SseStream({ maxQueued: 100, retryMs: 2000, onSlow: () => assert.fail('not slow') });
  stream.event(ev('enqueued', 'queued', 0)); // held: before the state was read, after seq
  stream.start(['event: state\ndata: {}\n\n'], -1, new Map([['job-1', { status: 'running', attempt: 1 }]]));
  stream.event(ev('started', 'running', 1)); // live: its claim had committed before the state was read
  stream.event(ev('enqueued', 'queued', 0, 'job-2')); // another job: no state for it
  stream.event(ev('progress', 'running', 1));
  stream.event(ev('succeeded', 'succeeded', 1));
  stream.event(ev('started', 'running', 1)); // the state said no more after an event that said more
  assert.deepEqual(sent(stream), ['state', 'enqueued', 'progress', 'succeeded', 'started']);
});

test('reflects: the same attempt and status, or an enqueued or started the state went past; never progress, another attempt or a made-up event', () => {
  const running = { status: 'running', attempt: 2 };
  assert.equal(reflects(running, ev('started', 'running', 2)), true);
  assert.equal(reflects(running, ev('enqueued', 'queued', 2)), true);
  assert.equal(reflects(running, ev('progress', 'running', 2)), false);
  assert.equal(reflects(running, ev('started', 'running', 3)), false, 'a later attempt');
  assert.equal(reflects(running, ev('released', 'queued', 2)), false, 'a release comes after running');
  assert.equal(reflects(running, ev('succeeded', 'succeeded', 2)), false);
  const done = { status: 'succeeded', attempt: 2 };
  assert.equal(reflects(done, ev('started', 'running', 2)), true);
  assert.equal(reflects(done, ev('succeeded', 'succeeded', 2)), true);
  assert.equal(reflects(running, ev('enqueued', 'queued', 0)), true, 'the enqueue before its first attempt');
  assert.equal(reflects({ status: 'retrying', attempt: 1 }, ev('started', 'running', 1)), true);
  assert.equal(reflects({ status: 'failed_permanent', attempt: 3 }, ev('enqueued', 'queued', 0)), false, "an ended job's enqueued is an operator's retry");
  assert.equal(reflects({ status: 'queued', attempt: 0 }, ev('enqueued', 'queued', 0)), true);
  assert.equal(reflects(running, { ...ev('started', 'running', 2), eventId: undefined }), false, 'made up by this process');
});
