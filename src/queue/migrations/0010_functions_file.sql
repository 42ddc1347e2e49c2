-- The current text of every jobq function lives in src/queue/functions.sql, which migrate() applies
-- (CREATE OR REPLACE) after the numbered migrations. This row records the checksum of the file as last
-- applied, so a restart with the same file does not apply it again. One row at most (`one`).
CREATE TABLE jobq.functions_applied (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
