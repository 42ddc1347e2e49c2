-- A queue table is updated several times per job and most rows die young. Vacuum it often and
-- without throttling, so dead row versions (which every claim must step over in the runnable index)
-- are cleared in seconds, not after a fifth of the table has churned (the server's defaults).
ALTER TABLE jobq.jobs SET (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);
