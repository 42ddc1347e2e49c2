#!/bin/sh
# Regenerates setup.sql: graphile-worker's own schema, as graphile-worker itself installs it (all its
# migrations), dumped from a scratch database, followed by what the study needs beside it (the
# `bench_noop` task, the bench_ids view, the seed counter). Run from the repository root:
#   sh bench/storage/graphile/make-setup.sh [postgres://postgres@127.0.0.1:5432]
set -eu
server=${1:-postgres://postgres@127.0.0.1:5432}
db=st_peer_graphile_dump
out=bench/storage/graphile/setup.sql
version=$(node -p "require('./node_modules/graphile-worker/package.json').version")
psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $db"' EXIT
# graphile-worker 0.18 needs Node >= 22: the `node` devDependency's.
node_modules/node/bin/node node_modules/.bin/graphile-worker -c "$server/$db" --schema-only
{
  cat <<HEAD
-- graphile-worker $version's storage, the peer baseline of the storage study (issue #22): its schema
-- graphile_worker exactly as its own migrations build it, beside jobq's (applied after jobq's migrate()).
-- Made by bench/storage/graphile/make-setup.sh (do not edit by hand): \`graphile-worker --schema-only\`
-- ($version, under Node 22) into a scratch database, then \`pg_dump --schema=graphile_worker --inserts
-- --no-owner --no-privileges\` of it: the schema plus the rows of graphile_worker.migrations, so that
-- graphile-worker itself finds its schema up to date here. pg_dump's \\restrict lines (psql-only) are
-- left out so that the file runs as one query; its session settings are reset at the end.
HEAD
  pg_dump --schema=graphile_worker --inserts --no-owner --no-privileges "$server/$db" | grep -v '^\\\(un\)\?restrict '
  cat <<'TAIL'
RESET ALL;

--
-- The study's additions (not graphile-worker's).
--

-- The jobs' task, first in a fresh schema: the pgbench scripts pass its id (1) as graphile-worker
-- passes the ids of the tasks it knows, a constant array.
INSERT INTO graphile_worker._private_tasks (identifier) VALUES ('bench_noop');
DO $$
BEGIN
  IF (SELECT id FROM graphile_worker._private_tasks WHERE identifier = 'bench_noop') <> 1 THEN
    RAISE EXCEPTION 'graphile study: task bench_noop must have id 1 (apply setup.sql to a fresh database)';
  END IF;
END $$;

-- The runner fills jobq.bench_ids with uuids (the contract's); sampleIdsSql gives each graphile job id
-- (bigint) as the uuid of its 16 hex digits, and the scripts read them back as bigints through this view.
CREATE TABLE IF NOT EXISTS jobq.bench_ids (i int PRIMARY KEY, id uuid NOT NULL);
CREATE VIEW graphile_worker.bench_ids AS
  SELECT i, ('x' || right(replace(id::text, '-', ''), 16))::bit(64)::bigint AS id FROM jobq.bench_ids;

-- Jobs seeded so far: graphile deletes a job when it completes, so the succeeded ones are counted as
-- seeded minus those still there (index.ts).
CREATE TABLE graphile_worker.bench_seeded (n bigint NOT NULL);
INSERT INTO graphile_worker.bench_seeded VALUES (0);
TAIL
} > "$out"
echo "wrote $out"
