/**
 * Checking the API against its own OpenAPI document (test/api/openapi.test.ts and
 * openapi-schedules.test.ts): the document as served and dereferenced, its operations, and a checker
 * that sends a request and validates the response (status, headers, body) against what the document
 * declares for it.
 */
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { OpenAPIV3_1 } from 'openapi-types';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

export type Doc = OpenAPIV3_1.Document;
export type Operation = OpenAPIV3_1.OperationObject;

/** Checks real responses against the document, and records which operation answered which status (`covered`). */
export class Checker {
  readonly covered = new Set<string>();
  readonly #ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  readonly #validators = new Map<object, ValidateFunction>();
  readonly #templates: { template: string; re: RegExp }[];

  constructor(readonly doc: Doc) {
    this.#templates = Object.keys(doc.paths ?? {}).map((template) => ({
      template,
      re: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  /** Sends the request and checks the response against the operation's declared response for its status. */
  async check(app: FastifyInstance, opts: InjectOptions & { url: string }): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
    const res = await app.inject(opts);
    const method = (opts.method ?? 'GET').toLowerCase() as (typeof METHODS)[number];
    const path = opts.url.split('?')[0]!;
    const matches = this.#templates.filter((t) => t.re.test(path));
    // A literal path (/v1/jobs/batch) wins over a template (/v1/jobs/{id}).
    const match = matches.find((t) => !t.template.includes('{')) ?? matches[0];
    assert.ok(match, `${path} is not in the document`);
    const op = (this.doc.paths![match.template] as Record<string, Operation>)[method];
    assert.ok(op, `${method.toUpperCase()} ${match.template} is not in the document`);
    const response = op.responses?.[String(res.statusCode)] as OpenAPIV3_1.ResponseObject | undefined;
    assert.ok(response, `${method.toUpperCase()} ${match.template} answered ${res.statusCode}, which the document does not declare: ${res.body.slice(0, 300)}`);
    // The headers a response declares: each one it carries matches its schema, and it carries one at
    // least (a response that declares several declares alternatives: the 200 of POST /v1/jobs says why
    // an existing job came back with one of three).
    const declared = Object.entries((response.headers ?? {}) as Record<string, OpenAPIV3_1.HeaderObject>);
    const carried = declared.filter(([header]) => res.headers[header.toLowerCase()] !== undefined);
    if (declared.length > 0) {
      assert.ok(carried.length > 0, `${method} ${match.template} ${res.statusCode}: none of the declared headers ${declared.map(([h]) => h).join(', ')}`);
    }
    for (const [header, { schema }] of carried) {
      const valid = this.#validator(schema as object);
      assert.ok(valid(res.headers[header.toLowerCase()]), `${method} ${match.template} ${res.statusCode}: header ${header}: ${this.#ajv.errorsText(valid.errors)}`);
    }
    if (response.content === undefined) {
      // A response declared without content (204) has no body.
      assert.equal(res.body, '', `${method} ${match.template} ${res.statusCode} declares no content`);
      this.covered.add(`${method} ${match.template} ${res.statusCode}`);
      return { status: res.statusCode, body: undefined, headers: res.headers };
    }
    const mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    const media = response.content?.[mediaType];
    assert.ok(media?.schema, `${method} ${match.template} ${res.statusCode}: no schema for ${mediaType}`);
    const body = mediaType === 'application/json' ? JSON.parse(res.body) : res.body;
    const validate = this.#validator(media.schema);
    assert.ok(validate(body), `${method} ${match.template} ${res.statusCode}: ${this.#ajv.errorsText(validate.errors)}\n${res.body.slice(0, 500)}`);
    this.covered.add(`${method} ${match.template} ${res.statusCode}`);
    return { status: res.statusCode, body, headers: res.headers };
  }

  #validator(schema: object): ValidateFunction {
    let v = this.#validators.get(schema);
    if (!v) {
      v = this.#ajv.compile(schema);
      this.#validators.set(schema, v);
    }
    return v;
  }
}

export function operations(doc: Doc): [string, string, Operation][] {
  const out: [string, string, Operation][] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const m of METHODS) {
      const op = (item as Record<string, Operation | undefined>)[m];
      if (op) out.push([m, path, op]);
    }
  }
  return out;
}

/** The app's /openapi.json with every $ref resolved. */
export async function documentOf(app: FastifyInstance): Promise<Doc> {
  const raw = JSON.parse((await app.inject({ url: '/openapi.json' })).body) as Doc;
  return (await SwaggerParser.dereference(structuredClone(raw) as never)) as unknown as Doc;
}
