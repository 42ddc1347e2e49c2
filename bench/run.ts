/**
 * `npm run bench` (issue #6): jobq against pg-boss, graphile-worker and BullMQ (on PostgreSQL and on
 * Redis), in one run, on one PostgreSQL, under one Node.js. See `npm run bench -- --help` and bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const NODE22 = path.join(ROOT, 'node_modules', 'node', 'bin', 'node');

// pg-boss 12 needs Node >= 22.12 and graphile-worker 0.18 >= 22.18: every system runs under the Node of
// the `node` devDependency, so re-run this script under it when started by another one.
if (existsSync(NODE22) && realpathSync(process.execPath) !== realpathSync(NODE22) && !process.env.JOBQ_BENCH_CHILD_NODE) {
  const r = spawnSync(NODE22, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, JOBQ_BENCH_CHILD_NODE: '1' },
  });
  process.exit(r.status ?? 1);
}

const { main } = await import('./lib/main.ts');
const jobqVersion = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
await main(process.argv.slice(2), { root: ROOT, bench: BENCH, jobqVersion });
