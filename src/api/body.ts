/**
 * The only body parser of the API: `application/json` in UTF-8. Anything else is a 415. The body must be
 * valid UTF-8 and valid JSON, nest at most MAX_JSON_DEPTH levels, hold only finite numbers, and no
 * string or key may contain U+0000 or a lone surrogate (PostgreSQL's jsonb refuses both, and the request
 * would otherwise fail as a 500 deep in the database). `__proto__` keys are refused (prototype poisoning).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ErrorDetail, JobqError } from '../errors.ts';

export const MAX_JSON_DEPTH = 64;

// Lone surrogates are matched code unit by code unit, hence no `u` flag.
const BAD_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const decoder = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string, details?: ErrorDetail[]): JobqError {
  return new JobqError('validation_failed', message, details);
}

/** The charset parameter of a Content-Type, lower case, or undefined. */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType ?? '');
  return match?.[1]?.toLowerCase();
}

const pointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** The first reason this parsed value cannot be accepted, or null. Recursion stops at the depth limit. */
export function inspectJson(value: unknown, depth = 1, path = ''): ErrorDetail | null {
  if (typeof value === 'string') {
    return BAD_TEXT.test(value) ? { path: path || '/', message: 'contains U+0000 or an unpaired surrogate' } : null;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? null : { path: path || '/', message: 'number is out of range' };
  if (value === null || typeof value !== 'object') return null;
  if (depth > MAX_JSON_DEPTH) return { path: path || '/', message: `nests deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = inspectJson(value[i], depth + 1, `${path}/${i}`);
      if (problem) return problem;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const at = `${path}/${pointer(key)}`;
    if (key === '__proto__') return { path: at, message: 'the key "__proto__" is not allowed' };
    if (BAD_TEXT.test(key)) return { path: at, message: 'key contains U+0000 or an unpaired surrogate' };
    const problem = inspectJson((value as Record<string, unknown>)[key], depth + 1, at);
    if (problem) return problem;
  }
  return null;
}

export function parseJsonBody(request: FastifyRequest, body: Buffer): unknown {
  const charset = charsetOf(request.headers['content-type']);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new JobqError('unsupported_media_type', `charset "${charset.slice(0, 40)}" is not supported; send UTF-8 JSON`);
  }
  if (body.length === 0) {
    if (request.routeOptions.schema?.body) throw invalid('the request body is empty; send a JSON object');
    return undefined;
  }
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw invalid('the request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(`the request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  const problem = inspectJson(value);
  if (problem) throw invalid(`the request body cannot be accepted: ${problem.message}`, [problem]);
  return value;
}

/** Replaces every default parser (JSON, text) with parseJsonBody. */
export function installJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, async (request: FastifyRequest, body: Buffer) =>
    parseJsonBody(request, body),
  );
}
