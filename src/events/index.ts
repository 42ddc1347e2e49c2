/**
 * Live job events, the reading side (issue #19; docs/events.md): the hub that one LISTEN connection
 * feeds and that every stream and long-poll of a process subscribes to. It may use the queue and the
 * database; the API uses it through EventHub's methods only.
 */
export { EventHub, type HubOptions, type HubStats, type OpenedSubscription } from './hub.ts';
export { frameOf, type HubEvent, type StreamEvent, type StreamEventType } from './event.ts';
export { EVENT_DEFAULTS, RETRY_HINT_MS } from './options.ts';
export type { EventFilter, Subscriber } from './subscriptions.ts';
