/**
 * `npm run test:chaos`: the reliability and security suite (issue #7), real `jobq` processes on loopback.
 *
 *   npm run test:chaos                               full profile (the sustained load runs 10 minutes)
 *   CI=true npm run test:chaos                       short profile (the whole suite in about 5 minutes)
 *   JOBQ_CHAOS_PROFILE=short npm run test:chaos      the same
 *   npm run test:chaos -- test/chaos/security.test.ts    some files only
 *   npm run test:chaos -- --test-name-pattern=buffer test/chaos/worker-crash.test.ts   some tests only
 *
 * Like test/run.ts (helpers/run-tests.ts): one PostgreSQL for the scenarios that do not restart it
 * (DATABASE_URL when set, else an embedded one in a temporary folder), a migrated template database
 * each scenario copies (through test/helpers/db.ts), then Node's test runner over the files, one at a time (they measure load and
 * memory, so they must not share the two cores), with the runner's exit code. The database-restart
 * scenario starts a PostgreSQL of its own.
 */
import path from 'node:path';
import { runTestFiles } from '../helpers/run-tests.ts';

const FILES = [
  'test/chaos/worker-crash.test.ts',
  'test/chaos/blocking-handler.test.ts',
  'test/chaos/db-restart.test.ts',
  'test/chaos/db-freeze.test.ts',
  'test/chaos/connection-loss.test.ts',
  'test/chaos/dead-transaction.test.ts',
  'test/chaos/unstorable-result.test.ts',
  'test/chaos/hostile-input.test.ts',
  'test/chaos/security.test.ts',
  'test/chaos/ssrf.test.ts',
  'test/chaos/sustained-load.test.ts',
];

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
process.chdir(root);
const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('--')); // passed to the test runner (--test-name-pattern=...)
const named = args.filter((a) => !a.startsWith('--'));
const files = named.length > 0 ? named : FILES;
const explicit = process.env.JOBQ_CHAOS_PROFILE;
if (explicit !== undefined && explicit !== 'short' && explicit !== 'full') {
  console.error(`JOBQ_CHAOS_PROFILE must be short or full, got "${explicit}"`);
  process.exit(2);
}
const profile = explicit ?? (process.env.CI === 'true' ? 'short' : 'full');
console.log(`chaos suite, ${profile} profile: ${files.join(' ')}`);

process.exit(
  await runTestFiles({ files, nodeTestArgs: ['--test-concurrency=1', ...options], env: { JOBQ_CHAOS_PROFILE: profile } }),
);
