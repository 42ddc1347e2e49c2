/**
 * The one Ajv set-up of the API: request bodies are validated as sent (no type coercion, no silent
 * removal of unknown fields), query strings and path parameters (text) with coercion. The schedules
 * file (schedules-wire.ts) is checked by the same body validator, so a file accepts exactly what
 * PUT /v1/schedules/{name} accepts.
 */
import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export function validator(options: AjvOptions): Ajv {
  return addFormats(new Ajv({ allErrors: true, strict: true, strictTypes: false, useDefaults: false, removeAdditional: false, ...options }));
}

/** The validator of request bodies (and of files holding what a body would). */
export const bodyValidator = (): Ajv => validator({ coerceTypes: false });
/** The validator of query strings and path parameters. */
export const paramsValidator = (): Ajv => validator({ coerceTypes: true });
