/**
 * /ui/jobs/<id> — one job: status, progress, timings, payload and result (JsonView folds large values),
 * the attempt history with each error's message and its stack folded, parents and children with their
 * status, and Cancel or Retry. It watches its own id (client.watch) and updates in place.
 */
import { useState } from 'preact/hooks';
import type { JobWire, WatchEvent } from '../../../src/client.ts';
import { isTerminal } from '../../../src/statuses.ts';
import { api, type ChildWire, useData } from '../api.ts';
import { Badge, ErrorBox, JobId, Loading, Section, Time, useTitle } from '../components/bits.tsx';
import { useConfirm } from '../components/Confirm.tsx';
import { JsonView } from '../components/JsonView.tsx';
import { between, duration, shortId, splitError } from '../format.ts';
import { LiveNote, useLive } from '../live.tsx';
import { jobsUrl } from '../router.ts';

type Job = JobWire;
type Related = Pick<ChildWire, 'id' | 'queue' | 'kind' | 'status'>;
const MAX_PARENTS = 50;

async function loadParents(ids: string[]): Promise<(Related | { id: string; missing: true })[]> {
  return Promise.all(ids.slice(0, MAX_PARENTS).map((id) => api().get(id).then((j) => j as Related, () => ({ id, missing: true as const }))));
}

function RelatedTable({ jobs, caption }: { jobs: (Related | { id: string; missing: true })[]; caption: string }) {
  return (
    <table>
      <caption class="visually-hidden">{caption}</caption>
      <thead><tr><th scope="col">Job</th><th scope="col">Kind</th><th scope="col">Queue</th><th scope="col">Status</th></tr></thead>
      <tbody>
        {jobs.map((j) => 'missing' in j ? (
          <tr><th scope="row"><JobId id={j.id} /></th><td colSpan={3} class="muted">not found (pruned?)</td></tr>
        ) : (
          <tr data-id={j.id}><th scope="row"><JobId id={j.id} /></th><td>{j.kind}</td><td>{j.queue}</td><td><Badge status={j.status} /></td></tr>
        ))}
      </tbody>
    </table>
  );
}

function Timings({ job }: { job: Job }) {
  const started = job.started_at ?? null;
  const from = job.run_at > job.created_at ? job.run_at : job.created_at;
  const wait = between(from, started);
  const run = between(started, job.finished_at);
  return (
    <dl class="timings">
      <div><dt>Enqueued</dt><dd><Time at={job.created_at} /></dd></div>
      <div><dt>Runnable</dt><dd><Time at={job.run_at} /></dd></div>
      <div>
        <dt>Started</dt>
        <dd>
          {started === null && job.status === 'running'
            ? <span class="muted" data-testid="start-pending">stored when this attempt ends (it started from its worker's buffer)</span>
            : <Time at={started} />}
        </dd>
      </div>
      <div><dt>Finished</dt><dd><Time at={job.finished_at} /></dd></div>
      <div><dt>Wait time</dt><dd>{wait === undefined ? '—' : duration(wait)}</dd></div>
      <div><dt>Run time</dt><dd>{run === undefined ? '—' : duration(run)}</dd></div>
    </dl>
  );
}

function Attempts({ job }: { job: Job }) {
  if (job.errors.length === 0) return <p class="muted">{job.last_error ? job.last_error : 'No attempt has failed.'}</p>;
  return (
    <ol class="attempts">
      {[...job.errors].reverse().map((e) => {
        const { message, stack } = splitError(e.error);
        return (
          <li data-attempt={e.attempt}>
            <p><strong>Attempt {e.attempt}</strong> · <Time at={e.at} /></p>
            <p class="err-message">{message}</p>
            {stack ? <details><summary>Stack</summary><pre class="stack">{stack}</pre></details> : null}
          </li>
        );
      })}
    </ol>
  );
}

export function JobView({ id }: { id: string }) {
  const job = useData((c) => c.get(id), [id]);
  const [seen, setSeen] = useState<{ status?: WatchEvent & { type: string }; progress?: Job['progress'] }>({});
  const j = job.data;
  const status = seen.status && j && seen.status.type !== 'reset' && 'status' in seen.status ? seen.status.status : j?.status;
  useTitle(j ? `${j.kind} ${shortId(j.id)} (${status})` : `Job ${shortId(id)}`);
  const onEvent = (e: WatchEvent) => {
    if (e.type === 'reset') return;
    setSeen((l) => ({ status: e, progress: e.type === 'progress' && e.progress ? { ...e.progress, at: e.at } as Job['progress'] : l.progress }));
  };
  const live = useLive(id, job.reload, { enabled: j !== undefined && !isTerminal(j.status), onEvent });
  const parents = useData(() => loadParents(j?.depends_on ?? []), [j?.depends_on?.join(',') ?? '', j?.status]);
  const children = useData((c) => c.children(id, { limit: 100 }), [id, j?.status]);
  const { dialog, ask } = useConfirm();
  const reread = () => {
    setSeen({});
    job.reload();
  };

  if (!j) {
    return (
      <>
        <h1>Job <code>{id}</code></h1>
        {job.error ? <ErrorBox error={job.error} what="Could not read the job" /> : <Loading what="Loading the job" />}
      </>
    );
  }
  const progress = seen.progress ?? j.progress;
  const current = status ?? j.status;
  return (
    <>
      <h1>{j.kind} <span class="muted">job</span></h1>
      {dialog}
      {job.error ? <ErrorBox error={job.error} what="Could not read the job again" /> : null}
      <div class="job-head">
        <p>Status: <span data-testid="job-status"><Badge status={current} /></span>{j.cancel_requested && !isTerminal(current) ? <span class="muted"> (cancel requested)</span> : null}</p>
        <p>Id: <JobId id={j.id} link={false} /></p>
        <p>Queue: <a href={jobsUrl({ queue: j.queue })}>{j.queue}</a> · Attempts {j.attempts}/{j.max_attempts} · Priority {j.priority}{j.group ? <> · Group <a href={jobsUrl({ group: j.group })}>{j.group}</a></> : null}</p>
        {j.idempotency_key ? <p>Idempotency key: <code>{j.idempotency_key}</code></p> : null}
        <div class="actions">
          {!isTerminal(current) ? <button type="button" onClick={() => ask(`Cancel job ${j.id} (${j.kind})?`, 'Cancel job', async () => { await api().cancel(j.id); reread(); })}>Cancel</button> : null}
          {current === 'failed_permanent' || current === 'cancelled' ? <button type="button" onClick={() => ask(`Retry job ${j.id} (${j.kind})? It is queued again with its attempts reset.`, 'Retry job', async () => { await api().retry(j.id); reread(); })}>Retry</button> : null}
        </div>
      </div>
      <LiveNote live={live} />
      {progress ? (
        <div class="progress">
          <label for="job-progress">Progress {Math.round(progress.value * 100)}%{progress.total !== undefined ? ` (${progress.current ?? 0} of ${progress.total})` : ''}</label>
          <progress id="job-progress" max={1} value={progress.value} />
          {progress.message ? <p class="progress-message">{progress.message}</p> : null}
        </div>
      ) : null}
      <Section title="Timings" id="timings"><Timings job={j} /></Section>
      <Section title={`Attempt history (${j.errors.length} error${j.errors.length === 1 ? '' : 's'})`} id="attempts"><Attempts job={j} /></Section>
      <Section title="Payload" id="payload"><JsonView value={j.payload} label="Payload" /></Section>
      <Section title="Result" id="result">{j.result === null ? <p class="muted">No result{j.status === 'succeeded' ? '' : ' yet'}.</p> : <JsonView value={j.result} label="Result" />}</Section>
      {j.depends_on?.length ? (
        <Section title={j.depends_on.length > MAX_PARENTS ? `Parents (the first ${MAX_PARENTS} of ${j.depends_on.length})` : `Parents (${j.depends_on.length})`} id="parents">
          {parents.error ? <ErrorBox error={parents.error} /> : parents.data ? <RelatedTable jobs={parents.data} caption="Parents" /> : <Loading />}
        </Section>
      ) : null}
      {children.data?.jobs.length ? (
        <Section title={`Children${children.data.next_cursor ? ' (first 100)' : ` (${children.data.jobs.length})`}`} id="children">
          <RelatedTable jobs={children.data.jobs} caption="Children" />
        </Section>
      ) : null}
      {children.error && children.error.kind !== 'not_found' ? <ErrorBox error={children.error} what="Could not read the children" /> : null}
    </>
  );
}
