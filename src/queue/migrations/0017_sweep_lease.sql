-- The sweep's turn as a row instead of a session advisory lock: a process takes it for a while with one
-- UPDATE and gives it back with another, both plain autocommit statements, so that taking turns needs
-- no session state and works through a pooler in transaction mode (PgBouncer). A holder that stalls
-- mid-sweep loses its turn when `until` passes, as the session lock's idle_session_timeout did.
CREATE TABLE jobq.sweep_lease (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  holder text,
  until timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO jobq.sweep_lease DEFAULT VALUES;
