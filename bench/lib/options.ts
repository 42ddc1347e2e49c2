/** Command-line flags of `npm run bench`. */
import { parseArgs } from 'node:util';

export interface Options {
  quick: boolean;
  jobs: number;
  reps: number;
  /** Finished jobs kept (the history) for the "finished" scenario. */
  finished: number;
  /** The "held" scenario: how long (seconds) a transaction holds the xmin under the paced load. */
  holdS: number;
  samples: number;
  intervalMs: number;
  /** Single-job enqueue calls measured (shared by 10 callers). */
  singles: number;
  httpSeconds: number;
  /** The `streams` scenario: SSE streams open against the API process (1% by queue, the rest by one job id each). */
  streams: number;
  /** Its paced runs: jobs enqueued a second, for `streamSeconds` seconds. */
  streamRate: number;
  streamSeconds: number;
  /** Families or ids to run (empty: all). */
  systems: string[];
  /** Scenario ids to run (empty: all). */
  scenarios: string[];
  http: boolean;
  pgbench: boolean;
  timeoutMs: number;
  outDir: string;
  /** Print the report of this saved run (a results JSON) instead of running. */
  report: string | undefined;
}

const HELP = `npm run bench -- [flags]
  --quick              small and fast (2,000 jobs, 1 repetition, 10,000 finished jobs, 30 latency samples,
                       100 streams, paced runs of 3 s at 200 jobs/s, a held xmin of 15 s)
  --jobs N             jobs per processing run (default 100000)
  --reps N             repetitions; every figure is their median (default 3)
  --finished N         "finished": finished jobs kept, made the way each system stores them (default 10000000;
                       jobq's through its own API over its default retention: bench/systems/jobq-history.ts)
  --hold-s N           "held": how long a transaction holds the xmin under a load of half the measured
                       capacity (default 600)
  --samples N          pickup-latency samples, one every --interval-ms (default 200, 20 ms)
  --singles N          single-job enqueue calls from 10 callers (default 5000)
  --http-seconds N     duration of each autocannon run (default 10)
  --streams N          "streams": SSE streams held open against a jobq API process (default 1000; 1% by queue,
                       the rest by one job id each, as that many waitFor callers would)
  --stream-rate N      "streams": jobs enqueued a second in its paced runs (default 1000)
  --stream-seconds N   "streams": length of each paced run (default 20)
  --systems a,b        only these systems: jobq, pgboss, graphile, bullmq-pg, bullmq-redis or ids like pgboss-best;
                       the storage study's prototypes (jobq-split, ...: docs/design/storage.md) run only when named
  --scenarios a,b      only these: latency, enqueue, c10, c50, 2proc, xmin, fresh (c10 right after the bulk
                       enqueue, no statistics), held (a long held xmin under a paced load), finished, and jobq's flow control:
                       limited (queue concurrency 10), rated (a rate far above capacity), groups (1,000 groups),
                       and jobq's live events: streams (processing with 0 and with --streams open SSE streams)
  --no-http            skip jobq's HTTP enqueue runs
  --no-pgbench         skip the pgbench runs
  --timeout-s N        give up a processing run after N seconds (default 900)
  --out DIR            where results go (default bench/results)
  --report FILE        print the report of a saved run (its JSON: tables, costs, targets) and exit
Environment: DATABASE_URL (default: jobq's embedded PostgreSQL in a temp dir).`;

export function parseOptions(argv: string[], defaultOut: string): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      jobs: { type: 'string' },
      reps: { type: 'string' },
      finished: { type: 'string' },
      'hold-s': { type: 'string' },
      samples: { type: 'string' },
      'interval-ms': { type: 'string' },
      singles: { type: 'string' },
      'http-seconds': { type: 'string' },
      streams: { type: 'string' },
      'stream-rate': { type: 'string' },
      'stream-seconds': { type: 'string' },
      systems: { type: 'string' },
      scenarios: { type: 'string' },
      'no-http': { type: 'boolean', default: false },
      'no-pgbench': { type: 'boolean', default: false },
      'timeout-s': { type: 'string' },
      out: { type: 'string' },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (name: string, raw: string | undefined, dflt: number, min = 1): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
  const list = (raw: string | undefined) => (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return {
    quick,
    jobs: int('jobs', values.jobs, quick ? 2_000 : 100_000, 10),
    reps: int('reps', values.reps, quick ? 1 : 3),
    finished: int('finished', values.finished, quick ? 10_000 : 10_000_000, 0),
    holdS: int('hold-s', values['hold-s'], quick ? 15 : 600),
    samples: int('samples', values.samples, quick ? 30 : 200),
    intervalMs: int('interval-ms', values['interval-ms'], 20),
    singles: int('singles', values.singles, quick ? 1_000 : 5_000, 10),
    httpSeconds: int('http-seconds', values['http-seconds'], quick ? 2 : 10),
    streams: int('streams', values.streams, quick ? 100 : 1_000),
    streamRate: int('stream-rate', values['stream-rate'], quick ? 200 : 1_000, 10),
    streamSeconds: int('stream-seconds', values['stream-seconds'], quick ? 3 : 20),
    systems: list(values.systems),
    scenarios: list(values.scenarios),
    http: !values['no-http'],
    pgbench: !values['no-pgbench'],
    timeoutMs: int('timeout-s', values['timeout-s'], 900) * 1000,
    outDir: values.out ?? defaultOut,
    report: values.report,
  };
}
