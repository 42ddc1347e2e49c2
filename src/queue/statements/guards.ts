/** SQL fragments the worker's statements share: which rows a worker may still write. */

/**
 * One job, as the worker's single-job transitions guard it: running and, when `:workerId` is given,
 * held by that worker; when `:claimSeq` is given, under that claim, so that a late outcome of an
 * earlier attempt never finishes the attempt that replaced it.
 */
export const HELD = `id = :id AND status = 'running' AND (:workerId::text IS NULL OR locked_by = :workerId)
      AND (:claimSeq::bigint IS NULL OR claim_seq = :claimSeq)`;

/**
 * Many jobs of one worker, by claim: `:ids` (`id = ANY(array)` keeps this a primary-key lookup; a join
 * against a set-returning function would let a stale row estimate pick a nested loop) and `:claims`, a
 * claim set: a JSON object whose keys are the claim_seq values the caller holds. claim_seq is unique
 * across all claims ever made (0006), so the row's current claim being one of the keys means the caller
 * holds this very claim, not an older or newer attempt of the same job. The test is a key lookup in one
 * jsonb object (a binary search), so its cost stays flat with the batch size, where
 * `claim_seq = ANY(array)` would compare every row with every element.
 */
export const CLAIMED = `id = ANY(:ids::uuid[]) AND status = 'running' AND locked_by = :workerId
      AND :claims::jsonb ? claim_seq::text`;
