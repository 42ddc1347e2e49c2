/**
 * pgbench (PostgreSQL's, /usr/bin/pgbench) for the storage study's tests: without it those tests are
 * skipped with a message saying so, except with CI set, where they fail (.ci/run installs it).
 */
import { existsSync } from 'node:fs';
import { PGBENCH } from '../../bench/storage/measure.ts';

export function withoutPgbench(): string | false {
  if (existsSync(PGBENCH)) return false;
  if (process.env.CI) throw new Error(`the storage study's tests must run in CI: ${PGBENCH} is not installed`);
  console.log(`# skipping the storage study's pgbench tests: ${PGBENCH} is not installed`);
  return `skipped: ${PGBENCH} is not installed`;
}
