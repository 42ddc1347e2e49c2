/**
 * The OpenAPI document describes the event stream (issue #19, item 4): GET /v1/events as
 * text/event-stream with its parameters, the Last-Event-ID header, the event types and the JobEvent
 * schema of its data; `wait` on GET /v1/jobs/{id}. Real answers match it: errors through the checker,
 * the stream over a real socket (its headers, and every frame's data against JobEvent).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenAPIV3_1 } from 'openapi-types';
import type { EventHub } from '../../src/events/index.ts';
import { EVENT_TYPES } from '../../src/queue/events/types.ts';
import { buildTestApp, listen } from '../helpers/fixtures.ts';
import { jobEvent, openStream, publish } from '../helpers/events.ts';
import { Checker, documentOf } from '../helpers/openapi.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

test('GET /v1/events is documented as a text/event-stream of JobEvent frames; GET /v1/jobs/{id} takes wait', async () => {
  const { app } = await buildTestApp();
  const doc = await documentOf(app);
  const op = doc.paths!['/v1/events']!.get!;
  assert.deepEqual(op.security, [{ bearerAuth: ['read'] }]);
  const params = (op.parameters as OpenAPIV3_1.ParameterObject[]).map((p) => `${p.in}:${p.name}`).sort();
  assert.deepEqual(params, ['header:last-event-id', 'query:group', 'query:id', 'query:kind', 'query:last_event_id', 'query:queue']);
  const ok = op.responses!['200'] as OpenAPIV3_1.ResponseObject;
  assert.deepEqual(Object.keys(ok.content!), ['text/event-stream']);
  for (const type of [...EVENT_TYPES, 'state', 'reset', 'Last-Event-ID', 'retry:', 'heartbeat']) assert.ok(ok.description.includes(type), `the 200 describes ${type}`);
  assert.deepEqual(Object.keys(op.responses!).sort(), ['200', '400', '401', '403', '500', '503']);
  const raw = JSON.parse((await app.inject({ url: '/openapi.json' })).body) as OpenAPIV3_1.Document;
  const jobEventSchema = raw.components!.schemas!.JobEvent as { properties: { type: { enum: string[] } } };
  assert.deepEqual(jobEventSchema.properties.type.enum, [...EVENT_TYPES, 'state']);
  const get = doc.paths!['/v1/jobs/{id}']!.get!;
  assert.ok((get.parameters as OpenAPIV3_1.ParameterObject[]).some((p) => p.in === 'query' && p.name === 'wait'));
});

test('real answers of GET /v1/events and of a long-poll match the document', { timeout: 30_000 }, async () => {
  const { app, queue, db } = await buildTestApp({ config: { apiKeys: ['key-1', 'nobody:enqueue:key-enq'] } });
  const doc = await documentOf(app);
  const c = new Checker(doc);
  const auth = { authorization: 'Bearer key-1' };
  assert.equal((await c.check(app, { url: '/v1/events?id=x', headers: auth })).status, 400);
  assert.equal((await c.check(app, { url: '/v1/events' })).status, 401);
  assert.equal((await c.check(app, { url: '/v1/events', headers: { authorization: 'Bearer key-enq' } })).status, 403);
  const noHub = await buildTestApp({ queue, hub: undefined });
  assert.equal((await c.check(noHub.app, { url: '/v1/events' })).status, 503);
  const hub = {
    subscribe: () => {
      throw new TypeError('hub broke');
    },
    close: async () => {},
  };
  const broken = await buildTestApp({ queue, hub: hub as unknown as EventHub });
  assert.equal((await c.check(broken.app, { url: '/v1/events' })).status, 500);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  assert.equal((await c.check(app, { url: `/v1/jobs/${job.id}?wait=1ms`, headers: auth })).status, 200);
  assert.equal((await c.check(app, { url: `/v1/jobs/${job.id}?wait=forever`, headers: auth })).status, 400);

  // The stream itself, over a socket: its declared headers, and each frame's data a JobEvent.
  const stream = await openStream(`${await listen(app)}/v1/events?id=${job.id}`, auth);
  const ok = doc.paths!['/v1/events']!.get!.responses!['200'] as OpenAPIV3_1.ResponseObject;
  assert.equal(stream.status, 200);
  assert.ok(ok.content!['text/event-stream']);
  assert.match(stream.headers['content-type']!, /^text\/event-stream/);
  assert.equal(stream.headers['cache-control'], 'no-cache');
  await publish(db!.pool, jobEvent(job, 'started'), jobEvent(job, 'progress', { progress: { value: 0.25, current: 1, total: 4, message: 'a quarter' } }), jobEvent(job, 'succeeded'));
  const frames = [await stream.next(), ...(await stream.until((f) => f.event === 'succeeded'))];
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  const raw = JSON.parse((await app.inject({ url: '/openapi.json' })).body) as OpenAPIV3_1.Document;
  const validate = ajv.compile(raw.components!.schemas!.JobEvent as object);
  assert.deepEqual(frames.map((f) => f.event), ['state', 'started', 'progress', 'succeeded']);
  for (const f of frames) {
    assert.ok(validate(f.data), `${f.raw}: ${ajv.errorsText(validate.errors)}`);
    assert.equal((f.data as { type: string }).type, f.event);
  }
  stream.close();
});
