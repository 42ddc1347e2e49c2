/** /v1/jobs: enqueue (one or a batch), read, list, cancel, retry. Registered with the prefix /v1. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type ErrorDetail, isJobqError, JobqError } from '../../errors.ts';
import type { EventHub } from '../../events/index.ts';
import type { Queue } from '../../queue/index.ts';
import type { NewJob } from '../../queue/types.ts';
import { DEFAULT_QUEUE } from '../../limits.ts';
import { traceEnqueue } from '../../tracing.ts';
import { longPolls, parseWait } from '../long-poll.ts';
import { renderCancel, renderJob, renderPage } from '../render.ts';
import { securityFor } from '../auth.ts';
import { errorResponses } from '../schemas/errors.ts';
import { GetJobQuerySchema } from '../schemas/events.ts';
import { JobSchema, Ref } from '../schemas/job.ts';
import { BatchRequestSchema, CreateJobHeadersSchema, CreateJobsHeadersSchema, JobIdParamsSchema, ListQuerySchema, NewJobSchema, type NewJobWire } from '../schemas/requests.ts';
import { BatchResponseSchema, CancelResponseSchema, JobListSchema } from '../schemas/responses.ts';

export interface JobRoutesOptions {
  queue: Queue;
  /** Serves `?wait=` long-polls (without one, they answer 503 too_many_streams). */
  hub?: EventHub | undefined;
}

const MIN_RUN_AT = Date.UTC(1970, 0, 1);
const MAX_RUN_AT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** The wire envelope → the queue's NewJob. `at` is the JSON pointer of this job in the request body. */
function toNewJob(body: NewJobWire, at: string, index?: number): NewJob {
  let runAt: Date | undefined;
  if (body.run_at !== undefined) {
    runAt = new Date(body.run_at);
    const t = runAt.getTime();
    if (!Number.isFinite(t) || t < MIN_RUN_AT || t > MAX_RUN_AT) {
      const detail: ErrorDetail = { path: `${at}/run_at`, message: 'must be an RFC 3339 date-time from 1970 to 9999' };
      if (index !== undefined) detail.index = index;
      throw new JobqError('validation_failed', `${at ? `${at.slice(1)}/` : ''}run_at must be an RFC 3339 date-time from 1970 to 9999`, [detail]);
    }
  }
  return {
    kind: body.kind,
    payload: body.payload,
    queue: body.queue,
    priority: body.priority,
    maxAttempts: body.max_attempts,
    runAt,
    delayMs: body.delay_ms,
    timeoutMs: body.timeout_ms,
    idempotencyKey: body.idempotency_key,
    group: body.group,
    singletonKey: body.singleton_key,
    debounceKey: body.debounce_key,
    debounceMs: body.debounce_ms,
    dependsOn: body.depends_on,
    onParentFailure: body.on_parent_failure,
  };
}

/** Queue errors of a batch name the job by `index` and a path inside it: make the paths absolute. */
function inBatch(err: unknown): unknown {
  if (!isJobqError(err) || !err.details?.some((d) => typeof d.index === 'number')) return err;
  const details = err.details.map((d) =>
    typeof d.index === 'number' && !d.path.startsWith('/jobs/') ? { ...d, path: `/jobs/${d.index}${d.path === '/' ? '' : d.path}` } : d,
  );
  const indexes = [...new Set(details.map((d) => d.index).filter((i) => typeof i === 'number'))];
  const message = indexes.length === 1 ? `job ${String(indexes[0])}: ${err.message}` : err.message;
  return new JobqError(err.kind, message, details, { cause: err });
}

/** A single enqueue has no index to speak of. */
function single(err: unknown): unknown {
  if (!isJobqError(err) || !err.details?.some((d) => 'index' in d)) return err;
  return new JobqError(err.kind, err.message, err.details.map(({ index: _index, ...d }) => d as ErrorDetail), { cause: err });
}

/** The header of a 200: why an enqueue was answered with an existing job. */
const ANSWERED_BY = { idempotent_replay: 'idempotent-replayed', singleton_existing: 'singleton-existing', debounced: 'debounced' } as const;

export const jobRoutes: FastifyPluginAsyncTypebox<JobRoutesOptions> = async (app, { queue, hub }) => {
  const waits = longPolls(queue, hub);
  app.addHook('preClose', async () => waits.release());

  app.post(
    '/jobs',
    {
      schema: {
        operationId: 'createJob',
        tags: ['jobs'],
        summary: 'Enqueue a job',
        description:
          'Validates the payload against the kind\'s schema and enqueues the job. With an idempotency key (body field or `Idempotency-Key` header) ' +
          'already used with the same kind and payload, the existing job is returned with 200 and `Idempotent-Replayed: true`. ' +
          'With a singleton_key held by an unfinished job, that job is returned with 200 and `Singleton-Existing: true`. With a debounce_key ' +
          'whose job still waits unclaimed, that job is rewritten and returned with 200 and `Debounced: true`. The idempotency key is looked at first.',
        security: securityFor('enqueue'),
        headers: CreateJobHeadersSchema,
        body: NewJobSchema,
        response: {
          201: Ref(JobSchema, {
            description: 'Enqueued.',
            headers: { Location: { type: 'string', description: 'URL of the new job.', examples: ['/v1/jobs/01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f'] } },
          }),
          200: Ref(JobSchema, {
            description:
              'An existing job, and one header saying why: the idempotency key was used before with the same kind and payload ' +
              '(`Idempotent-Replayed`), the singleton key is held by this unfinished job (`Singleton-Existing`), or this waiting job of the ' +
              'debounce key was rewritten with the request (`Debounced`).',
            headers: {
              'Idempotent-Replayed': { type: 'string', enum: ['true'] },
              'Singleton-Existing': { type: 'string', enum: ['true'] },
              Debounced: { type: 'string', enum: ['true'] },
            },
          }),
          ...errorResponses(400, 401, 403, 409, 413, 415, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const header = request.headers['idempotency-key'];
      const body = request.body;
      if (header !== undefined && body.idempotency_key !== undefined && header !== body.idempotency_key) {
        throw new JobqError('validation_failed', 'the Idempotency-Key header and the body field idempotency_key differ', [
          { path: '/idempotency_key', message: 'differs from the Idempotency-Key header' },
        ]);
      }
      const newJob = toNewJob(body, '');
      if (header !== undefined) newJob.idempotencyKey = header;
      // A PRODUCER span, child of the caller's traceparent, active around the enqueue: the queue stores its context with the job.
      const { job, outcome } = await traceEnqueue(request.headers, () => [{ kind: newJob.kind, queue: newJob.queue ?? DEFAULT_QUEUE }], () => queue.enqueue(newJob), (r) => [r.job.id])
        .catch((err: unknown) => Promise.reject(single(err)));
      if (outcome === 'created') reply.code(201).header('location', `/v1/jobs/${job.id}`);
      else reply.code(200).header(ANSWERED_BY[outcome], 'true');
      return renderJob(job);
    },
  );

  app.post(
    '/jobs/batch',
    {
      schema: {
        operationId: 'createJobs',
        tags: ['jobs'],
        summary: 'Enqueue up to 1,000 jobs at once',
        description:
          'All or nothing, in one transaction: one invalid job rejects the batch, and the error details name it (`/jobs/3/payload/to`, `index` 3). ' +
          'Jobs with an idempotency, singleton or debounce key answered by an existing job come back as that job, as with POST /v1/jobs. ' +
          'An entry\'s depends_on may name an earlier entry as `#i` (its index), so a whole flow of dependent jobs is made at once (docs/flows.md).',
        security: securityFor('enqueue'),
        headers: CreateJobsHeadersSchema,
        body: BatchRequestSchema,
        response: {
          201: { ...BatchResponseSchema, description: 'Enqueued, in request order.' },
          ...errorResponses(400, 401, 403, 409, 413, 415, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const jobs = request.body.jobs.map((j, i) => toNewJob(j, `/jobs/${i}`, i));
      const targets = () => jobs.map((j) => ({ kind: j.kind, queue: j.queue ?? DEFAULT_QUEUE }));
      const results = await traceEnqueue(request.headers, targets, () => queue.enqueueMany(jobs), (rs) => rs.map((r) => r.job.id))
        .catch((err: unknown) => Promise.reject(inBatch(err)));
      reply.code(201);
      return { jobs: results.map((r) => renderJob(r.job)) };
    },
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        operationId: 'getJob',
        tags: ['jobs'],
        summary: 'Read a job',
        description:
          'With `wait` (a long-poll): answers as soon as the job is succeeded, failed_permanent or cancelled, or with the job as it is when the ' +
          'wait ends; a job already finished is answered at once. See docs/events.md.',
        security: securityFor('read'),
        params: JobIdParamsSchema,
        querystring: GetJobQuerySchema,
        response: { 200: Ref(JobSchema, { description: 'The job.' }), ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request, reply) => {
      const waitMs = request.query.wait === undefined ? 0 : parseWait(request.query.wait);
      const job = waitMs > 0 ? await waits.wait(request, reply, request.params.id, waitMs) : await queue.get(request.params.id);
      if (!job) throw new JobqError('not_found', `no job with id ${request.params.id}`);
      return renderJob(job);
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        operationId: 'listJobs',
        tags: ['jobs'],
        summary: 'List jobs, newest first',
        description:
          'Filter by status, kind, queue and group, or find the job of an idempotency key; walk the pages with `cursor` = the previous `next_cursor` until it is null. ' +
          'A page examines a bounded number of jobs (10,000) and bytes (8 MiB of payloads, results and errors), so it may hold ' +
          'fewer jobs than `limit`, even none, while `next_cursor` says where to continue.',
        security: securityFor('read'),
        querystring: ListQuerySchema,
        response: { 200: { ...JobListSchema, description: 'One page.' }, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => {
      const q = request.query;
      return renderPage(
        await queue.list({ status: q.status, kind: q.kind, queue: q.queue, group: q.group, idempotencyKey: q.idempotency_key, limit: q.limit, cursor: q.cursor }),
      );
    },
  );

  app.post(
    '/jobs/:id/cancel',
    {
      schema: {
        operationId: 'cancelJob',
        tags: ['jobs'],
        summary: 'Cancel a job',
        description:
          'A job not running yet (waiting for its parents, queued, retrying) is cancelled at once; a running one is flagged and its worker told (`cancel_requested`); ' +
          'a finished one is left as it is (`already_terminal`). Its waiting children follow their on_parent_failure (docs/flows.md).',
        security: securityFor('admin'),
        params: JobIdParamsSchema,
        response: { 200: { ...CancelResponseSchema, description: 'What the cancel did.' }, ...errorResponses(400, 401, 403, 404, 413, 415, 500, 503) },
      },
    },
    async (request) => renderCancel(await queue.requestCancel(request.params.id)),
  );

  app.post(
    '/jobs/:id/retry',
    {
      schema: {
        operationId: 'retryJob',
        tags: ['jobs'],
        summary: 'Run a failed or cancelled job again',
        description:
          'Only a `failed_permanent` or `cancelled` job: it goes back to `queued` with its attempts reset. A job cancelled while it waited for its parents ' +
          'runs now, without waiting for them again.',
        security: securityFor('admin'),
        params: JobIdParamsSchema,
        response: { 200: Ref(JobSchema, { description: 'The job, queued again.' }), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 500, 503) },
      },
    },
    async (request) => renderJob(await queue.retry(request.params.id)),
  );
};
