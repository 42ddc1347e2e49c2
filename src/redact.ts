/** Secrets out of text meant for people: logs, errors, results. */

/**
 * Query parameters that carry a secret. node-postgres (pg-connection-string) turns every query
 * parameter into a connection setting, so `?password=`, `?sslpassword=` (the key's passphrase) and
 * `?sslkey=` must not be shown any more than the password of the user info; any name that reads like
 * a secret is hidden too.
 */
const SECRET_PARAM = /pass|secret|token|key|credential|auth/i;
/** A value that itself holds such a parameter (a `?` where `&` was meant: `port=5432?password=...`). */
const SECRET_INSIDE = /(?:pass|secret|token|key|credential|auth)[^=&]*=/i;
const hidden = (name: string, value: string): boolean => SECRET_PARAM.test(name) || SECRET_INSIDE.test(value);

/**
 * The URL with every credential replaced by `***`: the password of the user info, and each query
 * parameter whose (decoded) name reads like a secret or whose value holds such a parameter. A URL that does not parse is not shown at all,
 * nor is one whose text holds an `@` but that has no host (`user:secret@host/db` without a scheme is
 * parsed by the URL standard as an opaque path that would keep the secret).
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.hostname === '' && url.includes('@')) return '(unparseable URL)';
    if (u.password) u.password = '***';
    if ([...u.searchParams].some(([name, value]) => hidden(name, value))) {
      u.search = new URLSearchParams([...u.searchParams].map(([name, value]) => [name, hidden(name, value) ? '***' : value])).toString();
    }
    if (u.hash) u.hash = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
