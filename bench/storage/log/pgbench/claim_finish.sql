-- The `log` candidate's hot path (../README.md): one claim (jobq.log_claim: a lane's cursor row
-- locked, the next slice of its window read, ONE log_batch row inserted; then the next lane's, until
-- the claim is full), then the completion as the Queue writes it (queue.ts, COMPLETE): the batches
-- locked FOR SHARE against recovery, ONE log_done row per batch with its positions. Two round trips
-- per claim, each its own transaction; the claim's commits without waiting for the flush, as today's
-- (../../today/pgbench/claim_finish.sql) does.
SELECT coalesce(array_agg(batch_id), '{}') AS bs, coalesce(array_agg(pos), '{}') AS ps
  FROM jobq.log_claim('default', 'pgbench-' || :client_id, :batch, true) \gset
WITH i AS (
  SELECT * FROM unnest(:bs::bigint[], :ps::bigint[]) AS t(batch_id, p)
), held AS (
  SELECT b.batch_id FROM jobq.log_batch b
   WHERE b.batch_id IN (SELECT DISTINCT batch_id FROM i) AND b.worker = 'pgbench-' || :client_id AND b.lost_at IS NULL FOR SHARE
), ok AS (
  SELECT i.batch_id, i.p FROM i JOIN held USING (batch_id)
   WHERE NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = i.p)
     AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = i.batch_id AND i.p = ANY (d.pos))
)
INSERT INTO jobq.log_done (batch_id, pos)
SELECT batch_id, array_agg(p ORDER BY p) FROM ok GROUP BY batch_id;
