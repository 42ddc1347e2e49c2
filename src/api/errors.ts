/**
 * Every failure becomes `{ error: { kind, message, details? } }` with the status of its kind: JobqErrors
 * from the queue, schema validation errors, Fastify's own errors (media type, body size, bad URL, no
 * route) and anything unexpected (a 500 that says nothing about its cause; the log has it).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorDetail, type ErrorKind, isJobqError, JobqError } from '../errors.ts';
import { type ErrorBodyWire, STATUS_OF_KIND } from './schemas/errors.ts';

export interface ApiError {
  kind: ErrorKind;
  message: string;
  details?: ErrorDetail[];
}

interface AjvLikeError {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  message?: string;
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query parameter', params: 'path parameter', headers: 'header' };

/**
 * A schema validation error → details with a JSON pointer each (the field itself for required / unknown
 * fields). `part` says where: body, querystring, params, headers (or file: a schedules file, schedules-wire.ts).
 */
export function validationDetails(errors: AjvLikeError[], part: string): ErrorDetail[] {
  const pointer = (key: unknown) => `/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
  return errors.map((e) => {
    const base = e.instancePath ?? '';
    if (e.keyword === 'required') return { path: `${base}${pointer(e.params?.missingProperty)}`, message: 'is required', in: part };
    if (e.keyword === 'additionalProperties') {
      return { path: `${base}${pointer(e.params?.additionalProperty)}`, message: 'is not a known field', in: part };
    }
    return { path: base || '/', message: e.message ?? 'is invalid', in: part };
  }).map((d) => {
    // A batch's envelope errors name their job like the queue's errors do.
    const index = part === 'body' ? /^\/jobs\/(\d+)(?:\/|$)/.exec(d.path)?.[1] : undefined;
    return index === undefined ? d : { ...d, index: Number(index) };
  });
}

function describe(details: ErrorDetail[], part: string): string {
  const [first] = details;
  if (!first) return `invalid ${part}`;
  const where = first.path === '/' ? part : `${part} ${first.path.slice(1)}`;
  const more = details.length > 1 ? ` (and ${details.length - 1} more problem${details.length > 2 ? 's' : ''})` : '';
  return `${where} ${first.message}${more}`;
}

/** Maps anything thrown while handling a request to the API's error. */
export function toApiError(err: unknown, bodyLimit: number): ApiError {
  if (isJobqError(err)) {
    if (err.kind === 'internal') return { kind: 'internal', message: 'an internal error occurred' };
    if (err.kind === 'database_unavailable') return { kind: err.kind, message: 'the database is not reachable or too busy right now; try again' };
    return err.details ? { kind: err.kind, message: err.message, details: err.details } : { kind: err.kind, message: err.message };
  }
  if (!(err instanceof Error)) return { kind: 'internal', message: 'an internal error occurred' };
  const fe = err as FastifyError & { validation?: AjvLikeError[]; validationContext?: string };
  if (Array.isArray(fe.validation)) {
    const part = PART_NAMES[fe.validationContext ?? 'body'] ?? 'input';
    const details = validationDetails(fe.validation, fe.validationContext ?? 'body');
    return { kind: 'validation_failed', message: describe(details, part), details };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return { kind: 'unsupported_media_type', message: 'send the body as application/json (UTF-8)' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { kind: 'payload_too_large', message: `the request body exceeds ${bodyLimit} bytes` };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { kind: 'validation_failed', message: 'the request body is empty; send a JSON object' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { kind: 'validation_failed', message: 'the request body is not valid JSON' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { kind: 'validation_failed', message: 'the request body does not match its Content-Length' };
    case 'FST_ERR_BAD_URL':
      return { kind: 'validation_failed', message: 'the URL is not valid (bad percent-encoding)' };
    default:
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  // A body parser's SyntaxError carries statusCode 400; one without is a bug of ours, hence a 500.
  if (err instanceof SyntaxError && status === 400) return { kind: 'validation_failed', message: 'the request body is not valid JSON' };
  if (status === 404 || status === 405) return { kind: 'not_found', message: 'no such route' };
  if (status === 401) return { kind: 'unauthorized', message: 'a valid API key is required' };
  if (status === 403) return { kind: 'forbidden', message: 'the API key lacks the scope this route needs' };
  if (status === 413) return { kind: 'payload_too_large', message: `the request body exceeds ${bodyLimit} bytes` };
  if (status === 415) return { kind: 'unsupported_media_type', message: 'send the body as application/json (UTF-8)' };
  // Fastify's other 4xx describe the request, never the server: safe to pass on.
  if (status >= 400 && status < 500) return { kind: 'validation_failed', message: fe.message || 'bad request' };
  return { kind: 'internal', message: 'an internal error occurred' };
}

/** Sends the error body for `err`: logs 5xx with the request id, adds Retry-After / WWW-Authenticate. */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, bodyLimit: number): FastifyReply {
  const apiError = toApiError(err, bodyLimit);
  const status = STATUS_OF_KIND[apiError.kind];
  if (status >= 500) {
    request.log.error({ err, kind: apiError.kind }, 'request failed');
  } else {
    request.log.debug({ kind: apiError.kind, message: apiError.message }, 'request rejected');
  }
  if (status === 503) reply.header('retry-after', '1');
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="jobq"');
  reply.header('x-request-id', request.id);
  const message = apiError.kind === 'internal' ? `an internal error occurred (request id ${request.id})` : apiError.message;
  const body: ErrorBodyWire = { error: { kind: apiError.kind, message } };
  if (apiError.details && apiError.details.length > 0) body.error.details = apiError.details;
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err, bodyLimit));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!.slice(0, 200);
    return sendError(request, reply, new JobqError('not_found', `no route ${request.method} ${path}`), bodyLimit);
  });
}

/** Fastify's `frameworkErrors` option: errors raised before routing (a URL that cannot be decoded). */
export function frameworkErrorHandler(bodyLimit: number) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    sendError(request, reply, err, bodyLimit);
  };
}

/**
 * Fastify's `clientErrorHandler`: requests Node's HTTP parser rejects before Fastify sees them (a bad
 * request line, a broken Content-Length, headers over the size limit). They get the API's error
 * body too, then the connection closes (the stream cannot be trusted after a parse error).
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (!socket.writable) return;
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  // Headers or body did not arrive within --headers-timeout-ms / --request-timeout-ms (connections.ts).
  const late = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const status = tooLarge ? 431 : late ? 408 : 400;
  const body = JSON.stringify({
    error: {
      kind: 'validation_failed',
      message: tooLarge ? 'request headers are too large' : late ? 'the request did not arrive in time' : 'the request is not valid HTTP',
    },
  });
  socket.end(
    `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : late ? 'Request Timeout' : 'Bad Request'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
