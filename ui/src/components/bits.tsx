/** Small pieces every view uses: times, ids with a copy button, status badges, error and loading states. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JobStatus } from '../../../src/client.ts';
import type { LoadError } from '../api.ts';
import { localTime, relative, shortId } from '../format.ts';
import { jobUrl } from '../router.ts';

/** An instant in the viewer's zone, its UTC value in `title` and `datetime`. */
export function Time({ at, rel = false }: { at: string | null | undefined; rel?: boolean }) {
  if (!at) return <span class="muted">—</span>;
  return (
    <time dateTime={at} title={`${at} (UTC)`}>
      {rel ? relative(at) : localTime(at)}
      {rel ? null : <span class="muted"> ({relative(at)})</span>}
    </time>
  );
}

/** Copies `text` with navigator.clipboard; says so for a moment. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState<'' | 'Copied' | 'Copy failed'>('');
  useEffect(() => {
    if (!done) return;
    const t = setTimeout(() => setDone(''), 1500);
    return () => clearTimeout(t);
  }, [done]);
  return (
    <button
      type="button"
      class="copy"
      aria-label={label}
      title={label}
      onClick={() => navigator.clipboard.writeText(text).then(() => setDone('Copied'), () => setDone('Copy failed'))}
    >
      {done || 'Copy'}
    </button>
  );
}

/** A job id: the short form as a link to the job (the whole id in its title), and a copy button. */
export function JobId({ id, link = true }: { id: string; link?: boolean }) {
  const short = <code title={id}>{shortId(id)}</code>;
  return (
    <span class="job-id">
      {link ? <a href={jobUrl(id)} aria-label={`Job ${id}`}>{short}</a> : <code>{id}</code>}
      <CopyButton text={id} label={`Copy job id ${id}`} />
    </span>
  );
}

const LABEL: Record<JobStatus, string> = {
  waiting: 'waiting', queued: 'queued', running: 'running', retrying: 'retrying', succeeded: 'succeeded', failed_permanent: 'failed', cancelled: 'cancelled',
};
export function Badge({ status }: { status: JobStatus }) {
  return <span class={`badge s-${status}`} data-status={status} title={status}>{LABEL[status] ?? status}</span>;
}

export function ErrorBox({ error, what }: { error: LoadError; what?: string }) {
  return (
    <div class="error" role="alert">
      <p>
        {what ? `${what}: ` : ''}<strong>{error.kind}</strong> — {error.message}
      </p>
      {error.details?.length ? (
        <ul>{error.details.map((d) => <li><code>{d.path || '/'}</code> {d.message}</li>)}</ul>
      ) : null}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <p class="muted" role="status">{what}…</p>;
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section aria-labelledby={id ? `${id}-h` : undefined} class="panel">
      <h2 id={id ? `${id}-h` : undefined}>{title}</h2>
      {children}
    </section>
  );
}

/** Sets the page's <title> while the view shows. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · jobq`;
  }, [title]);
}
