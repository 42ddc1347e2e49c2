/**
 * Which request headers an `http` job may set, and which of them follow a redirect.
 *
 * Refused (at enqueue, through the kind's `checkPayload`, and again before sending): `Host`, which
 * would let a job reach another virtual host (and, for https, another TLS server name) behind an
 * allowed address; the hop-by-hop headers of RFC 9110 §7.6.1 plus `Keep-Alive` and every `Proxy-*`,
 * which belong to the connection jobq's client manages; and `Content-Length` and `Expect`, which
 * node:http derives from the body.
 *
 * On a redirect to another origin (scheme, host or port differ; so https to http always counts), every
 * header the job set is dropped, except those named in `keep_headers_on_redirect`, and even those are
 * dropped when the redirect goes from https to plain http. jobq's own `User-Agent` and
 * `Idempotency-Key` (the job's id) are sent on every hop; `Content-Type` travels with the body.
 */
import type { ErrorDetail } from '../errors.ts';

/** RFC 9110 token: the characters a header name may have. */
export const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const FROM_BODY = new Set(['content-length', 'expect']);

/** Why a job may not set header `name`, or undefined when it may. */
function forbiddenHeaderReason(name: string): string | undefined {
  const n = name.toLowerCase();
  if (n === 'host') return 'is set from the url; a job may not choose another virtual host or TLS server name';
  if (HOP_BY_HOP.has(n) || n.startsWith('proxy-')) return "is a hop-by-hop header, managed by jobq's HTTP client";
  if (FROM_BODY.has(n)) return 'is set by jobq from the body';
  return undefined;
}

/** Problems with the headers of a payload, paths relative to the payload (`/headers/Host`). */
export function checkHeaders(headers: Record<string, string> | undefined): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  for (const name of Object.keys(headers ?? {})) {
    const reason = forbiddenHeaderReason(name);
    if (reason) problems.push({ path: `/headers/${name}`, message: `header ${name} ${reason}` });
  }
  return problems;
}

/**
 * The job's headers to send after a redirect from `from` to `to`: all of them within one origin;
 * across origins only those listed in `keep` (case-insensitive), and none from https to http.
 */
export function headersAfterRedirect(
  headers: Record<string, string>,
  from: URL,
  to: URL,
  keep: readonly string[] = [],
): Record<string, string> {
  if (from.origin === to.origin) return headers;
  if (from.protocol === 'https:' && to.protocol !== 'https:') return {};
  const kept = new Set(keep.map((k) => k.toLowerCase()));
  return Object.fromEntries(Object.entries(headers).filter(([k]) => kept.has(k.toLowerCase())));
}
