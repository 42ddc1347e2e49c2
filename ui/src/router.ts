/**
 * The dashboard's router: the view is chosen by location.pathname, its filters by location.search, so
 * every view and filter has a URL that can be shared and reloaded (src/api/ui.ts serves index.html for
 * every /ui path). Links are plain <a href> elements; a click on one within /ui is turned into a
 * pushState by `interceptLinks` instead of a page load.
 */
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/ui';

export type Route =
  | { view: 'overview' }
  | { view: 'jobs'; query: URLSearchParams }
  | { view: 'job'; id: string }
  | { view: 'enqueue' }
  | { view: 'not_found'; path: string };

const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());

/** Goes to `url` (a path under /ui, with its query) without reloading the page. */
export function navigate(url: string, opts: { replace?: boolean } = {}): void {
  if (url === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.scrollTo(0, 0);
  notify();
}

export function parseRoute(pathname: string, search: string): Route {
  const path = pathname.replace(/\/+$/, '');
  if (path === BASE || path === '') return { view: 'overview' };
  if (path === `${BASE}/jobs`) return { view: 'jobs', query: new URLSearchParams(search) };
  if (path === `${BASE}/enqueue`) return { view: 'enqueue' };
  const job = /^\/ui\/jobs\/([^/]+)$/.exec(path);
  if (job) return { view: 'job', id: decodeURIComponent(job[1]!) };
  return { view: 'not_found', path: pathname };
}

/** The current route; re-renders on pushState (navigate) and on the browser's back and forward. */
export function useRoute(): Route {
  const read = () => parseRoute(location.pathname, location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = () => setRoute(read());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** `/ui/jobs?status=...`: the query's empty values left out. */
export function jobsUrl(filter: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
  const qs = q.toString();
  return `${BASE}/jobs${qs ? `?${qs}` : ''}`;
}

export const jobUrl = (id: string) => `${BASE}/jobs/${encodeURIComponent(id)}`;

/** Clicks on same-origin links under /ui become navigations without a reload (modified clicks are left alone). */
export function interceptLinks(root: Document): void {
  root.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !(url.pathname === BASE || url.pathname.startsWith(`${BASE}/`))) return;
    if (url.pathname.startsWith(`${BASE}/assets/`)) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}
