/**
 * /v1/schedules: recurring jobs (issue #18). Create or replace, read, list, delete, and run one now.
 * Registered with the prefix /v1.
 *
 * Scopes: reading needs read; everything else admin, trigger included. Triggering enqueues, but
 * not a job of the caller's: it runs the template an admin saved (its payload comes back in the
 * answer, which an enqueue-only key could not read otherwise), like retrying a job, which is admin too.
 * The enqueue scope stays what it is: submitting one's own jobs.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { JobqError } from '../../errors.ts';
import type { Queue } from '../../queue/index.ts';
import { securityFor } from '../auth.ts';
import { renderJob, renderSchedule } from '../render.ts';
import { toScheduleDefinition } from '../schedules-wire.ts';
import { errorResponses } from '../schemas/errors.ts';
import { JobSchema, Ref } from '../schemas/job.ts';
import { ScheduleListQuerySchema, ScheduleListSchema, ScheduleNameParamsSchema, ScheduleSavedSchema, ScheduleSchema, SetScheduleBodySchema } from '../schemas/schedules.ts';

export interface ScheduleRoutesOptions {
  queue: Queue;
}

const missing = (name: string) => new JobqError('not_found', `no schedule named ${name}`); // as the queue says it for trigger
const TAGS = ['schedules'];

export const scheduleRoutes: FastifyPluginAsyncTypebox<ScheduleRoutesOptions> = async (app, { queue }) => {
  app.get(
    '/schedules',
    {
      schema: {
        operationId: 'listSchedules',
        tags: TAGS,
        summary: 'List schedules',
        description: 'By name, each with its next and last tick and the job of the last one. Walk the pages with `cursor` = the previous `next_cursor` until it is null.',
        security: securityFor('read'),
        querystring: ScheduleListQuerySchema,
        response: { 200: { ...ScheduleListSchema, description: 'One page.' }, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => {
      const page = await queue.schedules.list({ after: request.query.cursor, limit: request.query.limit });
      return { schedules: page.schedules.map(renderSchedule), next_cursor: page.nextAfter };
    },
  );

  app.get(
    '/schedules/:name',
    {
      schema: {
        operationId: 'getSchedule',
        tags: TAGS,
        summary: 'Read a schedule',
        security: securityFor('read'),
        params: ScheduleNameParamsSchema,
        response: { 200: Ref(ScheduleSchema, { description: 'The schedule.' }), ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => {
      const schedule = await queue.schedules.get(request.params.name);
      if (!schedule) throw missing(request.params.name);
      return renderSchedule(schedule);
    },
  );

  app.put(
    '/schedules/:name',
    {
      schema: {
        operationId: 'setSchedule',
        tags: TAGS,
        summary: 'Create or replace a schedule',
        description:
          'The body is the whole schedule: `cron` (in `timezone`) or `every`, the `job` each tick enqueues (its payload checked against ' +
          "the kind's schema now), `enabled`, and what happens to ticks missed while no worker ran (`catch_up`). Sending the same " +
          'schedule again changes nothing (`changed: false`). Workers fire due ' +
          'ticks, each exactly once, as a job with the idempotency key `schedule:<name>:<tick>`.',
        security: securityFor('admin'),
        params: ScheduleNameParamsSchema,
        body: SetScheduleBodySchema,
        response: {
          201: { ...ScheduleSavedSchema, description: 'Created.' },
          200: { ...ScheduleSavedSchema, description: 'Replaced, or already so (`changed: false`).' },
          ...errorResponses(400, 401, 403, 413, 415, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const saved = await queue.schedules.set(toScheduleDefinition(request.params.name, request.body));
      reply.code(saved.created ? 201 : 200);
      return { schedule: renderSchedule(saved.schedule), created: saved.created, changed: saved.changed };
    },
  );

  app.delete(
    '/schedules/:name',
    {
      schema: {
        operationId: 'deleteSchedule',
        tags: TAGS,
        summary: 'Delete a schedule',
        description: 'It fires no more; jobs it enqueued stay. A schedule of a schedules file comes back when a process starts with that file.',
        security: securityFor('admin'),
        params: ScheduleNameParamsSchema,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errorResponses(400, 401, 403, 404, 413, 415, 500, 503) },
      },
    },
    async (request, reply) => {
      if (!(await queue.schedules.delete(request.params.name))) throw missing(request.params.name);
      return reply.code(204).send();
    },
  );

  app.post(
    '/schedules/:name/trigger',
    {
      schema: {
        operationId: 'triggerSchedule',
        tags: TAGS,
        summary: 'Run a schedule now',
        description: "Enqueues the schedule's job now, disabled or not; its ticks stay as they were. Answers as POST /v1/jobs does.",
        security: securityFor('admin'),
        params: ScheduleNameParamsSchema,
        response: {
          201: Ref(JobSchema, {
            description: 'Enqueued.',
            headers: { Location: { type: 'string', description: 'URL of the new job.', examples: ['/v1/jobs/01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f'] } },
          }),
          ...errorResponses(400, 401, 403, 404, 413, 415, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const { job } = await queue.schedules.trigger(request.params.name);
      reply.code(201).header('location', `/v1/jobs/${job.id}`);
      return renderJob(job);
    },
  );
};
