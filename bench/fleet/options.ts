/**
 * `npm run bench:fleet -- [options]`
 *
 *   --workers 1,2,4,8,16   worker counts (concurrency 10 each), with the first API count
 *   --apis 1,2,4           API counts, with --anchor-workers workers (default 8, or the largest count)
 *   --grid                 every workers × apis pair instead
 *   --pgbouncer both|on|off
 *   --seconds N            throughput phase per cell (default 20; --quick 5)
 *   --rate N               offered jobs/s of the latency phase (default 200), for --rate-seconds (default 10; --quick 4)
 *   --pool-size N          PgBouncer's default_pool_size (default 20)
 *   --out DIR              where fleet-<time>.json and .md go (default bench/results)
 *   --quick                workers 1,2 and apis 1 (unless given), short phases
 */
import type { CellSetup } from './cell.ts';

export interface RunOptions {
  cells: CellSetup[];
  maxSeconds: number;
  rate: number;
  rateSeconds: number;
  poolSize: number;
  batch: number;
  concurrency: number;
  out: string;
}

const ints = (flag: string, raw: string | undefined): number[] => {
  const out = (raw ?? '').split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error(`${flag} takes a comma-separated list of integers from 1 to 64, got "${raw}"`);
  return out;
};

export function parseOptions(argv: string[]): RunOptions {
  const args = new Map<string, string | undefined>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const flagOnly = k === 'quick' || k === 'grid';
    args.set(k, flagOnly ? 'true' : (inline ?? argv[++i]));
  }
  const known = ['workers', 'apis', 'grid', 'pgbouncer', 'seconds', 'rate', 'rate-seconds', 'pool-size', 'batch', 'concurrency', 'out', 'quick', 'anchor-workers'];
  for (const k of args.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k} (known: ${known.map((x) => `--${x}`).join(', ')})`);
  const quick = args.has('quick');
  const workers = ints('--workers', args.get('workers') ?? (quick ? '1,2' : '1,2,4,8,16'));
  const apis = ints('--apis', args.get('apis') ?? (quick ? '1' : '1,2,4'));
  const pgb = args.get('pgbouncer') ?? 'both';
  if (!['both', 'on', 'off'].includes(pgb)) throw new Error(`--pgbouncer takes both, on or off, got "${pgb}"`);
  const arms = pgb === 'both' ? [false, true] : [pgb === 'on'];
  const anchor = Number(args.get('anchor-workers') ?? (workers.includes(8) ? 8 : Math.max(...workers)));
  const shapes: [number, number][] = [];
  if (args.has('grid')) for (const w of workers) for (const a of apis) shapes.push([w, a]);
  else {
    for (const w of workers) shapes.push([w, apis[0]!]);
    for (const a of apis.slice(1)) shapes.push([anchor, a]);
  }
  // Both arms of one shape run back to back, so that whatever else the machine does weighs on both alike.
  const cells = shapes.flatMap(([w, a]) => arms.map((pgbouncer) => ({ workers: w, apis: a, pgbouncer })));
  const num = (k: string, dflt: number, min: number) => {
    const n = Number(args.get(k) ?? dflt);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${k} must be a number of at least ${min}`);
    return n;
  };
  return {
    cells,
    maxSeconds: num('seconds', quick ? 5 : 20, 1),
    rate: num('rate', 200, 1),
    rateSeconds: num('rate-seconds', quick ? 4 : 10, 2),
    poolSize: num('pool-size', 20, 1),
    batch: num('batch', 100, 1),
    concurrency: num('concurrency', 16, 1),
    out: args.get('out') ?? 'bench/results',
  };
}
