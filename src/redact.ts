/** Secrets out of text meant for people: logs, errors, results. */

/** The URL with its password replaced by `***`; a URL that does not parse is not shown at all. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
