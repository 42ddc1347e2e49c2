/**
 * `npm test`: every test file under test/ except test/chaos/, on one PostgreSQL for the run (see
 * helpers/run-tests.ts).
 *
 *   npm test                      every test file
 *   npm test -- test/queue/*.ts   just these files
 *   npm test -- --test-name-pattern=deadlock test/worker/worker.test.ts    some tests only
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { runTestFiles } from './helpers/run-tests.ts';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('--')); // passed to the test runner
const named = args.filter((a) => !a.startsWith('--'));
const files = named.length > 0 ? named : findTests(path.join(root, 'test'));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
process.exit(await runTestFiles({ files, nodeTestArgs: options }));

function findTests(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .filter((f) => !f.split(path.sep).includes('chaos'))
    .sort();
}
