/**
 * /ui/enqueue — a job from a form: the kind (kinds()), its payload schema shown, the payload as JSON
 * (its syntax checked here, its content by the server, whose validation errors are listed), queue,
 * priority and delay. Confirmed first; on success the page goes to the new job.
 */
import { useState } from 'preact/hooks';
import type { NewJobWire } from '../../../src/client.ts';
import { api, type LoadError, noteError, useData } from '../api.ts';
import { ErrorBox, Loading, Section, useTitle } from '../components/bits.tsx';
import { useConfirm } from '../components/Confirm.tsx';
import { JsonView } from '../components/JsonView.tsx';
import { jobUrl, navigate } from '../router.ts';

export function EnqueueView() {
  useTitle('Enqueue a job');
  const kinds = useData((c) => c.kinds(), []);
  const [kind, setKind] = useState('');
  const [payload, setPayload] = useState('{}');
  const [queue, setQueue] = useState('');
  const [priority, setPriority] = useState('');
  const [delay, setDelay] = useState('');
  const [syntax, setSyntax] = useState<string | undefined>();
  const [error, setError] = useState<LoadError | undefined>();
  const { dialog, ask } = useConfirm();
  const chosen = kinds.data?.find((k) => k.name === (kind || kinds.data?.[0]?.name));

  const submit = (e: Event) => {
    e.preventDefault();
    setError(undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
      setSyntax(undefined);
    } catch (err) {
      setSyntax(`The payload is not valid JSON: ${(err as Error).message}`);
      document.getElementById('payload')?.focus();
      return;
    }
    if (!chosen) return;
    const job: NewJobWire = { kind: chosen.name, payload: parsed };
    if (queue.trim()) job.queue = queue.trim();
    if (priority.trim()) job.priority = Number(priority);
    if (delay.trim()) job.delay_ms = Math.round(Number(delay) * 1000);
    ask(`Enqueue a ${chosen.name} job${job.queue ? ` on queue ${job.queue}` : ''}?`, 'Enqueue', async () => {
      try {
        const made = await api().enqueue(job);
        navigate(jobUrl(made.id));
      } catch (err) {
        setError(noteError(err));
      }
    });
  };

  return (
    <>
      <h1>Enqueue a job</h1>
      {dialog}
      {kinds.error ? <ErrorBox error={kinds.error} what="Could not read the kinds" /> : null}
      {!kinds.data && !kinds.error ? <Loading what="Loading kinds" /> : null}
      {kinds.data ? (
        <form class="enqueue" onSubmit={submit} noValidate>
          <div class="field">
            <label for="e-kind">Kind</label>
            <select id="e-kind" value={chosen?.name ?? ''} onChange={(e) => setKind(e.currentTarget.value)}>
              {kinds.data.map((k) => <option value={k.name}>{k.name}</option>)}
            </select>
            {chosen?.description ? <p class="hint">{chosen.description}</p> : null}
          </div>
          {chosen ? (
            <details class="schema">
              <summary>Payload schema of {chosen.name}</summary>
              <JsonView value={chosen.payload_schema} label={`Payload schema of ${chosen.name}`} />
            </details>
          ) : null}
          <div class="field">
            <label for="payload">Payload (JSON)</label>
            <textarea id="payload" rows={8} spellcheck={false} value={payload} aria-invalid={syntax ? 'true' : undefined} aria-describedby={syntax ? 'payload-error' : undefined}
              onInput={(e) => setPayload(e.currentTarget.value)} />
            {syntax ? <p id="payload-error" class="error" role="alert">{syntax}</p> : null}
          </div>
          <div class="row">
            <div class="field"><label for="e-queue">Queue</label><input id="e-queue" value={queue} placeholder="default" onInput={(e) => setQueue(e.currentTarget.value)} /></div>
            <div class="field"><label for="e-priority">Priority</label><input id="e-priority" type="number" step="1" value={priority} placeholder="0" onInput={(e) => setPriority(e.currentTarget.value)} /></div>
            <div class="field"><label for="e-delay">Delay (seconds)</label><input id="e-delay" type="number" min="0" step="any" value={delay} placeholder="0" onInput={(e) => setDelay(e.currentTarget.value)} /></div>
          </div>
          {error ? <ErrorBox error={error} what="The server refused the job" /> : null}
          <button type="submit" class="primary">Enqueue…</button>
        </form>
      ) : null}
      {kinds.data?.length === 0 ? <Section title="No kinds"><p>This jobq has no kinds registered.</p></Section> : null}
    </>
  );
}
