/**
 * /ui/jobs?status=&kind=&queue=&group=&idempotency_key=&cursor= — jobs newest first, filtered by the
 * URL (each change of a filter is a pushState, so the page can be shared and reloaded), paged with the
 * API's keyset cursor. Rows offer Cancel (unfinished jobs) and Retry (failed or cancelled ones).
 */
import type { JobStatus, JobWire } from '../../../src/client.ts';
import { JOB_STATUSES, isTerminal } from '../../../src/statuses.ts';
import { api, useData } from '../api.ts';
import { Badge, ErrorBox, JobId, Loading, Time, useTitle } from '../components/bits.tsx';
import { useConfirm } from '../components/Confirm.tsx';
import { LiveNote, useLive } from '../live.tsx';
import { jobsUrl, navigate } from '../router.ts';

const PAGE = 50;
const FILTERS = ['status', 'kind', 'queue', 'group', 'idempotency_key'] as const;
type Filter = Partial<Record<(typeof FILTERS)[number] | 'cursor', string>>;

function filterOf(query: URLSearchParams): Filter {
  const f: Filter = {};
  for (const k of [...FILTERS, 'cursor'] as const) {
    const v = query.get(k);
    if (v) f[k] = v;
  }
  return f;
}

async function loadChoices(): Promise<{ kinds: string[]; queues: string[] }> {
  const c = api();
  const [kinds, stats, queues] = await Promise.all([c.kinds(), c.stats(), c.listQueuesPage({ limit: 1000 })]);
  return {
    kinds: [...new Set([...kinds.map((k) => k.name), ...Object.keys(stats.by_kind)])].sort(),
    queues: [...new Set([...Object.keys(stats.by_queue), ...queues.queues.map((q) => q.name)])].sort(),
  };
}

function Select({ name, label, value, options, filter }: { name: keyof Filter; label: string; value: string | undefined; options: string[]; filter: Filter }) {
  const all = value && !options.includes(value) ? [value, ...options] : options;
  return (
    <div class="field">
      <label for={`f-${name}`}>{label}</label>
      <select id={`f-${name}`} name={name} value={value ?? ''} onChange={(e) => navigate(jobsUrl({ ...filter, cursor: undefined, [name]: e.currentTarget.value || undefined }))}>
        <option value="">All</option>
        {all.map((o) => <option value={o}>{o === 'failed_permanent' ? 'failed (permanent)' : o}</option>)}
      </select>
    </div>
  );
}

function Filters({ filter }: { filter: Filter }) {
  const choices = useData(loadChoices, []);
  return (
    <form class="filters" aria-label="Filters" onSubmit={(e) => {
      e.preventDefault();
      const group = (e.currentTarget.elements.namedItem('group') as HTMLInputElement).value.trim();
      navigate(jobsUrl({ ...filter, cursor: undefined, group: group || undefined }));
    }}>
      <Select name="status" label="Status" value={filter.status} options={[...JOB_STATUSES]} filter={filter} />
      <Select name="kind" label="Kind" value={filter.kind} options={choices.data?.kinds ?? []} filter={filter} />
      <Select name="queue" label="Queue" value={filter.queue} options={choices.data?.queues ?? []} filter={filter} />
      <div class="field">
        <label for="f-group">Group</label>
        <input id="f-group" name="group" key={filter.group ?? ''} defaultValue={filter.group ?? ''} placeholder="any" />
      </div>
      <button type="submit">Apply</button>
      {Object.keys(filter).some((k) => k !== 'cursor') ? <a class="button" href={jobsUrl({})}>Clear filters</a> : null}
      {choices.error ? <ErrorBox error={choices.error} what="Could not read the kinds and queues" /> : null}
    </form>
  );
}

export function JobsView({ query }: { query: URLSearchParams }) {
  const filter = filterOf(query);
  const qs = query.toString();
  const described = FILTERS.filter((k) => filter[k]).map((k) => `${k.replace('_', ' ')} ${filter[k]}`).join(', ');
  useTitle(`Jobs${described ? ` (${described})` : ''}`);
  const page = useData((c) => c.listPage({ ...filter, status: filter.status as JobStatus | undefined, limit: PAGE }), [qs]);
  const watchFilter = { ...(filter.queue ? { queue: filter.queue } : {}), ...(filter.kind ? { kind: filter.kind } : {}), ...(filter.group ? { group: filter.group } : {}) };
  const live = useLive(watchFilter, page.reload);
  const { dialog, ask } = useConfirm();

  const act = (job: JobWire) => {
    if (!isTerminal(job.status)) {
      return <button type="button" onClick={() => ask(`Cancel job ${job.id} (${job.kind})?`, 'Cancel job', async () => { await api().cancel(job.id); page.reload(); })}>Cancel</button>;
    }
    if (job.status === 'failed_permanent' || job.status === 'cancelled') {
      return <button type="button" onClick={() => ask(`Retry job ${job.id} (${job.kind})? It is queued again with its attempts reset.`, 'Retry job', async () => { await api().retry(job.id); page.reload(); })}>Retry</button>;
    }
    return null;
  };

  return (
    <>
      <h1>Jobs</h1>
      <Filters filter={filter} />
      {filter.idempotency_key ? <p>Showing the job with idempotency key <code>{filter.idempotency_key}</code>.</p> : null}
      <LiveNote live={live} />
      {dialog}
      {page.error ? <ErrorBox error={page.error} what="Could not list the jobs" /> : null}
      {!page.data && !page.error ? <Loading what="Loading jobs" /> : null}
      {page.data ? (
        page.data.jobs.length === 0 ? (
          <p class="empty">
            {page.data.next_cursor
              ? 'No job matches among the jobs this page examined (a page looks at 10,000 jobs at most); older ones may: see the next page.'
              : `No job matches${filter.cursor ? ' on this page' : ''}.`}
          </p>
        ) : (
          <div class="scroll">
            <table class="jobs">
              <caption class="visually-hidden">Jobs, newest first</caption>
              <thead>
                <tr><th scope="col">Job</th><th scope="col">Kind</th><th scope="col">Queue</th><th scope="col">Status</th><th scope="col" class="num">Attempts</th><th scope="col">Created</th><th scope="col">Actions</th></tr>
              </thead>
              <tbody>
                {page.data.jobs.map((j) => (
                  <tr data-id={j.id} data-status={j.status}>
                    <th scope="row"><JobId id={j.id} /></th>
                    <td>{j.kind}</td>
                    <td><a href={jobsUrl({ queue: j.queue })}>{j.queue}</a></td>
                    <td><Badge status={j.status} /></td>
                    <td class="num">{j.attempts}/{j.max_attempts}</td>
                    <td><Time at={j.created_at} rel /></td>
                    <td class="row-actions">{act(j)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
      <nav class="pager" aria-label="Pages">
        {filter.cursor ? <a href={jobsUrl({ ...filter, cursor: undefined })}>First page</a> : null}
        {page.data?.next_cursor ? <a href={jobsUrl({ ...filter, cursor: page.data.next_cursor })} rel="next">Next page</a> : null}
      </nav>
    </>
  );
}
