/**
 * SQL injection attempts in every string field of a job (kind, queue, idempotency key in the body and in
 * the header, payload strings and keys) and in every query parameter and path parameter. Each is either
 * refused (4xx) or stored, and a stored string must read back byte for byte, through the API and straight
 * from the table; a filter that answers 200 must match literally (never "every row"); and no request may
 * take long (a `pg_sleep` that ran would).
 */
import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import { json, keepAlive, request, type Res } from './http.ts';

export const INJECTIONS = [
  "'; DROP TABLE jobq.jobs; --",
  "' OR '1'='1",
  "' OR 1=1 --",
  "admin'--",
  '" OR ""="',
  "'); DELETE FROM jobq.jobs; --",
  "1; SELECT pg_sleep(10); --",
  "1' AND pg_sleep(10)::text = '1",
  "' UNION SELECT NULL, current_user, version() --",
  "$$; DROP SCHEMA jobq CASCADE; $$",
  "\\'; TRUNCATE jobq.jobs; --",
  "'||(SELECT string_agg(usename, ',') FROM pg_user)||'",
  "%27%3B%20DROP%20TABLE%20jobq.jobs%3B%20--",
  "jobq.jobs--",
  "x:DROP--TABLE",
  "queued' OR status IS NOT NULL --",
  "E'\\x27'; COPY jobq.jobs TO '/tmp/x'; --",
  "ʼ OR ʼ1ʼ=ʼ1",
];

export interface InjectionResult {
  requests: number;
  stored: number;
  refused: number;
  serverErrors: string[];
  mismatches: string[];
}

const SLOW_MS = 3_000;

export async function checkInjections(url: string, pool: pg.Pool): Promise<InjectionResult> {
  const agent = keepAlive(4);
  const out: InjectionResult = { requests: 0, stored: 0, refused: 0, serverErrors: [], mismatches: [] };
  const send = async (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Res> => {
    out.requests++;
    const res = await request(url, method, path, { agent, body, headers });
    const what = `${method} ${path} ${JSON.stringify(body ?? '').slice(0, 200)} → ${res.status} ${res.body.slice(0, 200)}`;
    if (res.status === 0 || res.status >= 500) out.serverErrors.push(what);
    else if (res.ms > SLOW_MS) out.serverErrors.push(`took ${Math.round(res.ms)} ms: ${what}`);
    if (res.status === 201) out.stored++;
    else if (res.status >= 400 && res.status < 500) out.refused++;
    return res;
  };
  /** A 201 job must read back with exactly these fields, through the API and from the table. */
  const readBack = async (res: Res, expect: { kind: string; queue?: string; payload: unknown; idempotency_key?: string }) => {
    if (res.status !== 201) return;
    const id = json(res).id as string;
    const got = json(await send('GET', `/v1/jobs/${id}`));
    const { rows } = await pool.query(`SELECT kind, queue, payload, idempotency_key FROM jobq.jobs WHERE id = $1`, [id]);
    const row = rows[0];
    const want = { queue: 'default', idempotency_key: null, ...expect };
    for (const [k, v] of Object.entries(want)) {
      if (!isDeepStrictEqual(got[k], v)) out.mismatches.push(`API ${id} ${k}: ${JSON.stringify(got[k])} ≠ ${JSON.stringify(v)}`);
      if (!isDeepStrictEqual(row?.[k], v)) out.mismatches.push(`table ${id} ${k}: ${JSON.stringify(row?.[k])} ≠ ${JSON.stringify(v)}`);
    }
  };

  for (const s of INJECTIONS) {
    const enc = encodeURIComponent(s);
    // Envelope fields.
    await send('POST', '/v1/jobs', { kind: s, payload: {} });
    const q = await send('POST', '/v1/jobs', { kind: 'noop', payload: {}, queue: s });
    await readBack(q, { kind: 'noop', queue: s, payload: {} });
    await send('POST', '/v1/jobs/batch', { jobs: [{ kind: 'noop', payload: {} }, { kind: s, payload: { s } }] });
    // Payload strings and the idempotency key, in the body field.
    const mail = { to: 'ada@example.com', subject: s, body: `${s}\n${s}` };
    const m = await send('POST', '/v1/jobs', { kind: 'send_email', payload: mail, idempotency_key: s });
    await readBack(m, { kind: 'send_email', payload: mail, idempotency_key: s });
    const replay = await send('POST', '/v1/jobs', { kind: 'send_email', payload: mail, idempotency_key: s });
    if (replay.status !== 200 || replay.headers['idempotent-replayed'] !== 'true' || (m.status === 201 && json(replay).id !== json(m).id)) {
      out.mismatches.push(`replay of key ${JSON.stringify(s)} → ${replay.status} ${replay.body.slice(0, 200)}`);
    }
    // ... and in the header (printable ASCII only; others are refused by the header schema).
    const hook = { url: `https://example.com/${enc}?q=${enc}`, headers: { 'X-Inj': s }, body: { [s]: s, list: [s] } };
    const ascii = /^[\x20-\x7e]+$/.test(s); // what an HTTP header can carry
    const h = ascii
      ? await send('POST', '/v1/jobs', { kind: 'http', payload: hook }, { 'idempotency-key': `h:${s}` })
      : await send('POST', '/v1/jobs', { kind: 'http', payload: hook, idempotency_key: `h:${s}` });
    await readBack(h, { kind: 'http', payload: hook, idempotency_key: `h:${s}` });
    const text = { text: `${s}. A second sentence follows here. And a third one.` };
    await readBack(await send('POST', '/v1/jobs', { kind: 'summarize_text', payload: text }), { kind: 'summarize_text', payload: text });
    // Query and path parameters: refused, or a literal match.
    for (const param of ['status', 'kind', 'queue', 'cursor', 'limit']) {
      for (const v of [enc, Buffer.from(s).toString('base64url')]) {
        const res = await send('GET', `/v1/jobs?${param}=${v}`);
        if (res.status === 200) {
          const literal = decodeURIComponent(v);
          for (const j of json(res).jobs as Record<string, unknown>[]) {
            if (['status', 'kind', 'queue'].includes(param) && j[param] !== literal) out.mismatches.push(`?${param}=${literal} returned a job with ${param} ${String(j[param])}`);
          }
          if (param === 'cursor' || param === 'limit') out.mismatches.push(`?${param}=${literal} was accepted`);
        }
      }
    }
    for (const path of [`/v1/jobs/${enc}`, `/v1/jobs/${enc}/cancel`, `/v1/jobs/${enc}/retry`]) {
      const res = await send(path.endsWith('/jobs/' + enc) ? 'GET' : 'POST', path);
      if (res.status < 400) out.mismatches.push(`${path} → ${res.status}`);
    }
  }
  agent.destroy();
  return out;
}
