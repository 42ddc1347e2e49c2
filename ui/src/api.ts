/**
 * The dashboard's way to the API: the typed client of src/client.ts on this origin, with the API key
 * the operator typed (kept in sessionStorage: gone when the tab closes), and `useData`, which loads
 * something for a view and keeps its error. A 401 anywhere makes the shell ask for a key (main.tsx).
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type ChildListWire, createClient, JobqClientError, type JobqClient, type WorkerListWire } from '../../src/client.ts';

const KEY = 'jobq.apiKey';

export type WorkerWire = WorkerListWire['workers'][number];
export type ChildWire = ChildListWire['jobs'][number];

function readKey(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function make(apiKey: string | undefined): JobqClient {
  return createClient({ baseUrl: location.origin, ...(apiKey ? { apiKey } : {}) });
}

/** The key, the client made with it, and whether the server asked for one. */
export const auth = {
  key: readKey(),
  client: make(readKey()),
  /** The server answered 401: with no key (`missing`) or to the key we sent (`refused`). */
  needed: undefined as undefined | 'missing' | 'refused',
  /** Bumped on each change of key, so that views load again with it. */
  generation: 0,
  listeners: new Set<() => void>(),
  set(key: string | undefined) {
    try {
      if (key) sessionStorage.setItem(KEY, key);
      else sessionStorage.removeItem(KEY);
    } catch {
      /* storage refused: the key lives in memory for this page only */
    }
    this.key = key;
    this.client = make(key);
    this.needed = undefined;
    this.generation++;
    this.emit();
  },
  unauthorized() {
    const needed = this.key ? 'refused' : 'missing';
    if (this.needed === needed) return;
    this.needed = needed;
    this.emit();
  },
  emit() {
    this.listeners.forEach((l) => l());
  },
};

export const api = (): JobqClient => auth.client;

/** Re-renders when the key or the need for one changes. */
export function useAuth(): typeof auth {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    auth.listeners.add(l);
    return () => void auth.listeners.delete(l);
  }, []);
  return auth;
}

/** Every failure as a JobqClientError-like pair for display; a 401 also asks for a key. */
export function noteError(err: unknown): { kind: string; message: string; details?: { path: string; message: string }[] } {
  if (err instanceof JobqClientError) {
    if (err.kind === 'unauthorized') auth.unauthorized();
    return { kind: err.kind, message: err.message, ...(err.details ? { details: err.details } : {}) };
  }
  return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
}

export type LoadError = ReturnType<typeof noteError>;

export interface Loaded<T> {
  data: T | undefined;
  error: LoadError | undefined;
  loading: boolean;
  /** Loads again, keeping what is shown until the answer comes (no flicker on live refreshes). */
  reload: () => void;
}

/** Loads `load(api())` when `deps` change and on reload(); a late answer of an older load is dropped. */
export function useData<T>(load: (c: JobqClient) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: LoadError; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(api()).then(
      (data) => mine === seq.current && setState({ data, loading: false }),
      (err: unknown) => mine === seq.current && setState((s) => ({ data: s.data, error: noteError(err), loading: false })),
    );
  }, []);
  useEffect(() => {
    setState({ loading: true });
    reload();
  }, deps);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}
