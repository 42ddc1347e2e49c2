/**
 * Reuse of an expensive read: one call's promise serves every caller for `ms` (concurrent callers
 * share the call in flight), so that any number of scrapers, dashboards or probes cost one query per
 * period. A rejection is not kept: the next caller tries again.
 */
export function cached<T>(fn: () => Promise<T>, ms: number): () => Promise<T> {
  let at = 0;
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending || Date.now() - at > ms) {
      at = Date.now();
      const p = fn();
      pending = p;
      p.catch(() => {
        if (pending === p) pending = undefined; // do not cache a failure
      });
    }
    return pending;
  };
}
