/**
 * Job events' statements (issue #19; the contract is in ../events/types.ts): publishing a batch of
 * events, and the registry of listeners that decides whether anything is published at all.
 */
import { EVENTS_CHANNEL, LISTENERS_CHANNEL } from '../events/types.ts';
import type { JobStatus } from '../types.ts';
import { type NoParams, statement } from './statement.ts';

/**
 * One notification per chunk (events/types.ts encodeChunks), each numbered from jobq.event_ids, in
 * order. Sent on its own, after the changes it reports committed: a NOTIFY takes a lock at commit that
 * every notifying transaction queues behind, so the job transitions never carry one.
 */
export const publishEvents = statement<{ chunks: string[] }, unknown>(
  'publish_events',
  `SELECT pg_notify('${EVENTS_CHANNEL}', '{"n":' || nextval('jobq.event_ids') || ',"e":' || c || '}')
     FROM unnest(:chunks::text[]) WITH ORDINALITY AS t(c, i)
    ORDER BY i`,
);

/** Registers (or renews) a listener until `ttlMs` from now, and tells publishers at once. */
export const registerListener = statement<{ id: string; ttlMs: number }, unknown>(
  'register_listener',
  `WITH up AS (
     INSERT INTO jobq.event_listeners (id, expires_at) VALUES (:id, now() + :ttlMs * interval '1 millisecond')
     ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at
     RETURNING (xmax = 0) AS inserted
   )
   SELECT pg_notify('${LISTENERS_CHANNEL}', :id) FROM up WHERE up.inserted`,
);

/** Removes a listener (its process has nothing open any more), and any expired ones. */
export const unregisterListener = statement<{ id: string }, unknown>(
  'unregister_listener',
  `DELETE FROM jobq.event_listeners WHERE id = :id OR expires_at < now() - interval '1 minute'`,
);

/** Whether any listener is live: publishers publish only then. */
export const listenersLive = statement<NoParams, { live: boolean }>(
  'listeners_live',
  `SELECT exists(SELECT 1 FROM jobq.event_listeners WHERE expires_at > now()) AS live`,
);

/** The current state of watched jobs (in either store: the log's derived), for a listener that may have missed their events. */
export const watchedStates = statement<{ ids: string[] }, { id: string; status: JobStatus; queue: string; kind: string; group_key: string | null; attempts: number; updated_at: Date }>(
  'watched_states',
  `SELECT id, status::text AS status, queue, kind, group_key, attempts, updated_at FROM jobq.jobs WHERE id = ANY(:ids::uuid[])
   UNION ALL
   SELECT id, status, queue, kind, NULL, attempts, coalesce(finished_at, locked_at, (errors -> -1 ->> 'at')::timestamptz, created_at)
     FROM jobq.log_jobs(ARRAY(SELECT i FROM unnest(:ids::uuid[]) i WHERE NOT EXISTS (SELECT FROM jobq.jobs j WHERE j.id = i)))`,
);
