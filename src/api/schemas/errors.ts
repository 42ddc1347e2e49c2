/**
 * The one error body of the API: `{ "error": { "kind", "message", "details"? } }`. `kind` is stable
 * (clients branch on it), `message` is for a person, `details` point at the input that caused it.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ERROR_KINDS, type ErrorKind } from '../../errors.ts';
import { Ref } from './job.ts';

export const ErrorDetailSchema = Type.Object(
  {
    path: Type.String({ description: 'JSON pointer into the input (`/jobs/3/payload/to`), or a parameter name.' }),
    message: Type.String(),
    index: Type.Optional(Type.Integer({ minimum: 0, description: 'Which job of a batch.' })),
  },
  { additionalProperties: true, description: 'One problem; some kinds add fields (job_id, status, in).' },
);

export const ErrorBodySchema = Type.Object(
  {
    error: Type.Object(
      {
        kind: Type.Unsafe<ErrorKind>({ type: 'string', enum: [...ERROR_KINDS], description: 'Stable, snake_case.' }),
        message: Type.String({ description: 'For a person; may change between versions.' }),
        details: Type.Optional(Type.Array(ErrorDetailSchema)),
      },
      { additionalProperties: false },
    ),
  },
  {
    $id: 'Error',
    additionalProperties: false,
    description: 'Every error response has this body.',
    examples: [
      {
        error: {
          kind: 'payload_invalid',
          message: 'payload does not match the schema of kind "send_email"',
          details: [{ path: '/payload/to', message: 'must match format "email"' }],
        },
      },
    ],
  },
);

export type ErrorBodyWire = Static<typeof ErrorBodySchema>;
export type ErrorDetailWire = Static<typeof ErrorDetailSchema>;

/** HTTP status of each error kind: the contract, in one place. */
export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  validation_failed: 400,
  payload_invalid: 400,
  unknown_kind: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_conflict: 409,
  invalid_transition: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  database_unavailable: 503,
  too_many_streams: 503,
  internal: 500,
};

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: `validation_failed` (envelope, parameters, JSON), `payload_invalid` or `unknown_kind`.',
  401: '`unauthorized`: API keys are configured and the request has no valid `Authorization: Bearer <key>`.',
  403: '`forbidden`: the API key is valid but lacks the scope this route needs (`enqueue`, `read` or `admin`; admin grants all).',
  404: '`not_found`: no such job (or no such route).',
  409: '`idempotency_conflict` or `invalid_transition`.',
  413: '`payload_too_large`: the body exceeds the configured limit.',
  415: '`unsupported_media_type`: send `Content-Type: application/json` (UTF-8).',
  500: '`internal`: a bug; the response carries no detail, the log has it under the request id.',
  503: '`database_unavailable`: try again (see `Retry-After`). On GET /v1/events and long-polls, `too_many_streams` too: this process holds as many streams and waits as it may.',
};

const EXAMPLES: Record<number, ErrorBodyWire> = {
  400: { error: { kind: 'validation_failed', message: 'body priority must be integer', details: [{ path: '/priority', message: 'must be integer' }] } },
  401: { error: { kind: 'unauthorized', message: 'a valid API key is required: Authorization: Bearer <key>' } },
  403: { error: { kind: 'forbidden', message: 'the API key "dashboard" lacks the scope "admin" this route needs' } },
  404: { error: { kind: 'not_found', message: 'no job with id 01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f' } },
  409: { error: { kind: 'invalid_transition', message: 'cannot retry job 01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f: it is queued', details: [{ path: '/status', message: 'is queued' }] } },
  413: { error: { kind: 'payload_too_large', message: 'the request body exceeds 1048576 bytes' } },
  415: { error: { kind: 'unsupported_media_type', message: 'send the body as application/json' } },
  500: { error: { kind: 'internal', message: 'an internal error occurred (request id 6f1c0a7e-1111-4c3b-9a55-0d7f5a1e2b3c)' } },
  503: { error: { kind: 'database_unavailable', message: 'the database is not reachable or too busy right now; try again' } },
};

const HEADERS: Record<number, Record<string, { type: 'string'; description: string }>> = {
  401: { 'WWW-Authenticate': { type: 'string', description: 'Bearer realm="jobq"' } },
  503: { 'Retry-After': { type: 'string', description: 'Seconds to wait before trying again: 1.' } },
};

/**
 * Response schemas of these error statuses, for a route's `response`: the shared Error schema as the
 * application/json content (the form that keeps a per-status example in the document).
 */
export function errorResponses(...codes: number[]) {
  return Object.fromEntries(
    codes.map((code) => [
      code,
      {
        description: DESCRIPTIONS[code] ?? 'Error.',
        ...(HEADERS[code] ? { headers: HEADERS[code] } : {}),
        content: { 'application/json': { schema: Ref(ErrorBodySchema), example: EXAMPLES[code] } },
      },
    ]),
  );
}
