-- The `log` candidate's hot path (../README.md): one claim (jobq.log_claim: the queue's cursor row
-- locked, the next slice of its window read, ONE log_batch row inserted), then the batch's completion
-- as the Queue writes it (queue.ts, COMPLETE): the batch locked FOR SHARE against recovery, ONE
-- log_done row with the positions. Two round trips per batch, each its own transaction.
SELECT coalesce(min(batch_id), 0) AS b, coalesce(array_agg(pos), '{}') AS ps
  FROM jobq.log_claim('default', 'pgbench-' || :client_id, :batch) \gset
WITH held AS (
  SELECT b.batch_id FROM jobq.log_batch b
   WHERE b.batch_id = :b AND b.worker = 'pgbench-' || :client_id AND b.lost_at IS NULL FOR SHARE
), ok AS (
  SELECT h.batch_id, p FROM held h, unnest(:ps::bigint[]) p
   WHERE NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = p)
     AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = h.batch_id AND p = ANY (d.pos))
)
INSERT INTO jobq.log_done (batch_id, pos)
SELECT batch_id, array_agg(p ORDER BY p) FROM ok GROUP BY batch_id;
