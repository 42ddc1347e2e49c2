-- The claim's planner pins (enable_sort = off, ...) make PostgreSQL up to 17 add its "disable cost"
-- of 10^10 to the small sort the claim still needs (row_number() over 200 rows). That estimate is far
-- above jit_above_cost, so every claim was JIT-compiled: measured on PostgreSQL 15, 150 ms per claim
-- of 200 jobs, 148 ms of it compiling, against well under a millisecond without. The claim is a
-- short index walk that never gains from JIT.
ALTER FUNCTION jobq.claim(text, integer, text[], text[], timestamptz, integer, timestamptz, uuid, integer) SET jit = off;
