/**
 * The dashboard's shell (issue #20): a skip link, the navigation, the search box (`/` focuses it), the
 * API key controls and the view of the URL (router.ts). With API keys configured, the first 401 turns
 * the view into a key form (components/KeyForm.tsx).
 */
import { render } from 'preact';
import { useState } from 'preact/hooks';
import { auth, useAuth } from './api.ts';
import { KeyForm } from './components/KeyForm.tsx';
import { UUID } from './format.ts';
import { BASE, interceptLinks, jobsUrl, jobUrl, navigate, type Route, useRoute } from './router.ts';
import { EnqueueView } from './views/enqueue.tsx';
import { JobView } from './views/job.tsx';
import { JobsView } from './views/jobs.tsx';
import { OverviewView } from './views/overview.tsx';
import './styles.css';

function Search() {
  const [value, setValue] = useState('');
  return (
    <form role="search" class="search" onSubmit={(e) => {
      e.preventDefault();
      const v = value.trim();
      if (!v) return;
      navigate(UUID.test(v) ? jobUrl(v.toLowerCase()) : jobsUrl({ idempotency_key: v }));
      setValue('');
    }}>
      <label for="search" class="visually-hidden">Job id or idempotency key</label>
      <input id="search" type="search" placeholder="Job id or idempotency key  ( / )" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit">Find</button>
    </form>
  );
}

function View({ route }: { route: Route }) {
  switch (route.view) {
    case 'overview':
      return <OverviewView />;
    case 'jobs':
      return <JobsView query={route.query} />;
    case 'job':
      return <JobView id={route.id} />;
    case 'enqueue':
      return <EnqueueView />;
    default:
      document.title = 'Not found · jobq';
      return (
        <section class="panel">
          <h1>Not found</h1>
          <p>Nothing at <code>{route.path}</code>. Try the <a href={`${BASE}/`}>overview</a>.</p>
        </section>
      );
  }
}

function App() {
  const route = useRoute();
  const a = useAuth();
  const nav: [string, string, Route['view'][]][] = [
    ['Overview', `${BASE}/`, ['overview']],
    ['Jobs', `${BASE}/jobs`, ['jobs', 'job']],
    ['Enqueue', `${BASE}/enqueue`, ['enqueue']],
  ];
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href={`${BASE}/`}>jobq</a>
        <nav aria-label="Views">
          <ul>
            {nav.map(([label, href, views]) => (
              <li><a href={href} aria-current={views.includes(route.view) ? 'page' : undefined}>{label}</a></li>
            ))}
          </ul>
        </nav>
        <Search />
        {a.key ? <button type="button" class="forget" onClick={() => auth.set(undefined)}>Forget key</button> : null}
      </header>
      <main id="main" tabIndex={-1}>
        {a.needed ? <KeyForm refused={a.needed === 'refused'} /> : <View key={`${a.generation}`} route={route} />}
      </main>
    </>
  );
}

interceptLinks(document);
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target as HTMLElement | null;
  if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
  e.preventDefault();
  document.getElementById('search')?.focus();
});
render(<App />, document.getElementById('app')!);
