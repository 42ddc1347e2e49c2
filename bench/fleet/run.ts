/**
 * `npm run bench:fleet`: runs the fleet matrix (options.ts), prints a row per cell as it finishes and
 * the table at the end, and writes fleet-<time>.json and .md into --out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runFleet } from './fleet.ts';
import { parseOptions } from './options.ts';
import { fullMarkdown, text } from './report.ts';
import type { CellResult } from './cell.ts';

let opts;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
mkdirSync(opts.out, { recursive: true });
const base = path.join(opts.out, `fleet-${stamp}`);
const done: CellResult[] = [];
const log = (m: string) => console.log(`[fleet ${new Date().toISOString().slice(11, 19)}] ${m}`);
log(`${opts.cells.length} cells; latency phase ${opts.rate} jobs/s × ${opts.rateSeconds} s, throughput phase ${opts.maxSeconds} s`);
const run = await runFleet({
  ...opts,
  log,
  onCell: (r) => {
    done.push(r);
    console.log(text(done).split('\n').slice(-1)[0]);
    writeFileSync(`${base}.partial.json`, JSON.stringify(done, null, 2));
  },
});
writeFileSync(`${base}.json`, JSON.stringify(run, null, 2));
writeFileSync(`${base}.md`, fullMarkdown(run));
(await import('node:fs')).rmSync(`${base}.partial.json`, { force: true });
console.log(`\n${text(run.cells)}\n\nwritten: ${base}.json, ${base}.md`);
