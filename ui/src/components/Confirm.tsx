/**
 * Confirmation before an action: a real <dialog> opened with showModal() (focus moves into it, Escape
 * closes it, Tab stays inside), whose buttons say what they do. `useConfirm` gives the dialog to render
 * and `ask(question, confirmLabel, action)`; the action's error is shown in the dialog.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { type LoadError, noteError } from '../api.ts';
import { ErrorBox } from './bits.tsx';

interface Pending {
  question: string;
  confirm: string;
  action: () => Promise<unknown>;
}

export function useConfirm(): { dialog: preact.JSX.Element; ask: (question: string, confirm: string, action: () => Promise<unknown>) => void } {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const [pending, setPending] = useState<Pending | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<LoadError | undefined>();

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (pending && !d.open) d.showModal();
    if (!pending && d.open) d.close();
  }, [pending]);

  const close = () => {
    setPending(undefined);
    setError(undefined);
    setBusy(false);
    (opener.current as HTMLElement | null)?.focus?.();
  };
  const run = async () => {
    if (!pending) return;
    setBusy(true);
    setError(undefined);
    try {
      await pending.action();
      close();
    } catch (err) {
      setError(noteError(err));
      setBusy(false);
    }
  };

  const dialog = (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-q" onClose={() => pending && close()}>
      <form method="dialog" onSubmit={(e) => { e.preventDefault(); void run(); }}>
        <p id="confirm-q">{pending?.question}</p>
        {error ? <ErrorBox error={error} /> : null}
        <div class="actions">
          <button type="button" onClick={close}>Keep as is</button>
          <button type="submit" class="primary" disabled={busy} autoFocus>{busy ? 'Working…' : pending?.confirm}</button>
        </div>
      </form>
    </dialog>
  );
  return {
    dialog,
    ask: (question, confirm, action) => {
      opener.current = document.activeElement;
      setError(undefined);
      setPending({ question, confirm, action });
    },
  };
}
