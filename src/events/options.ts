/**
 * The event hub's settings and their defaults, in one place: src/config.ts builds its `--events-*`
 * settings from EVENT_DEFAULTS, and a hub or an API built without them (tests, library users) takes
 * the same values.
 */

export const EVENT_DEFAULTS = {
  /** The replay ring keeps at most this many events... */
  replayEvents: 10_000,
  /** ...and none older than this (by arrival in this process). */
  replayMs: 5 * 60_000,
  /** How often watched jobs' states are re-read (watchedStates), in case an event was missed. */
  reconcileMs: 5_000,
  /** Streams and long-polls this process holds at once; more are refused with `too_many_streams`. */
  maxStreams: 10_000,
  /** An SSE stream's heartbeat comment, so that proxies keep an idle stream open. */
  heartbeatMs: 15_000,
  /** Events an SSE stream may have waiting for a client that reads slower than they come; more closes it. */
  streamBuffer: 1_000,
} as const;

/** The hub's registration in jobq.event_listeners: its lifetime, renewed every third of it. */
export const LISTENER_TTL_MS = 30_000;
/** With nothing open for this long, the hub unregisters and stops listening. */
export const IDLE_MS = 10_000;
/** How long a new subscription waits for the LISTEN connection and the registration before going on without. */
export const READY_TIMEOUT_MS = 5_000;
/** The `retry:` hint sent at the start of every stream: how long a client waits before reconnecting. */
export const RETRY_HINT_MS = 2_000;
