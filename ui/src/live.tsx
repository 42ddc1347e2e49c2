/**
 * Keeping a view current. A view opens one event stream (client.watch, GET /v1/events) with the filter
 * of its URL and takes each event only as a signal to load again, at most once per 2 s. Once the stream
 * is up (and after every reconnect) it loads once more: what changed between the view's first load and
 * the stream's answer would otherwise never show. When the stream
 * cannot be opened or fails for good (say 503 too_many_streams), it loads again every 5 s instead;
 * never more often than that. The stream and the timers end when the view is left (AbortController).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { WatchEvent, WatchFilter } from '../../src/client.ts';
import { api, auth, noteError } from './api.ts';

export const THROTTLE_MS = 2_000;
export const POLL_MS = 5_000;

export type LiveMode = 'connecting' | 'live' | 'polling' | 'off';

/** Calls `fn` on the trailing edge, at most once per `ms`. */
export function throttle(fn: () => void, ms: number): { call(): void; cancel(): void } {
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    call() {
      if (timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        last = Date.now();
        fn();
      }, Math.max(0, last + ms - Date.now()));
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * Watches `target` (a filter, or one job's id) while `enabled`; each event goes to `onEvent` (at once)
 * and triggers `refetch` (throttled). Returns how the view is kept current.
 */
export function useLive(
  target: WatchFilter | string | undefined,
  refetch: () => void,
  opts: { enabled?: boolean; onEvent?: (e: WatchEvent) => void } = {},
): { mode: LiveMode; why: string } {
  const enabled = opts.enabled ?? true;
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [why, setWhy] = useState('');
  const ref = useRef({ refetch, onEvent: opts.onEvent });
  ref.current = { refetch, onEvent: opts.onEvent };
  const key = JSON.stringify(target ?? null);
  useEffect(() => {
    if (!enabled || target === undefined) {
      setMode('off');
      return;
    }
    const ac = new AbortController();
    const again = throttle(() => ref.current.refetch(), THROTTLE_MS);
    let poll: ReturnType<typeof setInterval> | undefined;
    const fallBack = (reason: string) => {
      if (ac.signal.aborted) return;
      setWhy(reason);
      setMode('polling');
      poll = setInterval(() => ref.current.refetch(), POLL_MS);
    };
    setMode('connecting');
    (async () => {
      const onOpen = () => {
        setMode('live');
        again.call();
      };
      try {
        for await (const e of api().watch(target, { signal: ac.signal, onOpen })) {
          ref.current.onEvent?.(e);
          again.call();
        }
        // A single job's stream ends once it has finished: one last load shows its final record.
        if (!ac.signal.aborted && typeof target === 'string') {
          again.cancel();
          ref.current.refetch();
          setMode('off');
          return;
        }
        fallBack('the stream ended');
      } catch (err) {
        if (ac.signal.aborted) return;
        const e = noteError(err);
        fallBack(`${e.kind}: ${e.message}`);
      }
    })();
    return () => {
      ac.abort();
      again.cancel();
      clearInterval(poll);
    };
  }, [key, enabled, auth.generation]);
  return { mode, why };
}

export function LiveNote({ live: { mode, why } }: { live: { mode: LiveMode; why: string } }) {
  const text = { connecting: 'Live: connecting to the event stream', live: 'Live: updates as jobs change', polling: 'Live updates unavailable: refreshing every 5 s', off: '' }[mode];
  return text ? <p class={`live live-${mode}`} role="status" title={mode === 'polling' ? `Why: ${why}` : undefined}>{text}</p> : null;
}
