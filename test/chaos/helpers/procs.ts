/**
 * `jobq` child processes (`node --import tsx src/cli.ts <command>`, direct children), their output
 * (kept, and fed line by line to waiters), their memory (VmRSS from /proc), and a group that SIGKILLs
 * whatever is still running when the test ends, passed or failed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { eventually as pollUntil } from '../../helpers/poll.ts';

const CLI = path.resolve('src/cli.ts');

export interface LogLine {
  level?: number;
  msg?: string;
  [k: string]: unknown;
}

export interface JobqProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Everything it wrote (stdout and stderr), up to `keepBytes` (the newest part beyond that). */
  output(): string;
  /** Lines seen so far that are warn (40) or worse, parsed. */
  problems(): LogLine[];
  alive(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (old or new) for which `match` is true; rejects after `ms` or on exit. */
  waitForLine(match: (line: LogLine, raw: string) => boolean, ms: number, what?: string): Promise<LogLine>;
  /** The URL of `API listening` / `metrics listening`. */
  url(kind: 'api' | 'metrics', ms?: number): Promise<string>;
  /** Max VmRSS seen by `sampleRss()`, in MB. */
  maxRssMb: number;
  /** Reads VmRSS now (MB; 0 once gone) and keeps the maximum. */
  sampleRss(): number;
}

/** Our environment without any jobq setting of the caller's shell: each scenario says what it runs with. */
function inherited(): NodeJS.ProcessEnv {
  const setting = /^(JOBQ_|DATABASE_URL$|SMTP_URL$|HOST$|PORT$|LOG_LEVEL$)/;
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !setting.test(k)));
}

export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export class ProcessGroup {
  readonly all: JobqProcess[] = [];

  /** Starts `jobq <args>`, or with `opts.script` that script instead of the CLI (a test fixture). */
  start(name: string, args: string[], env: Record<string, string>, opts: { keepBytes?: number; script?: string } = {}): JobqProcess {
    const keep = opts.keepBytes ?? 16 * 1024 * 1024;
    const child = spawn(process.execPath, ['--import', 'tsx', opts.script ? path.resolve(opts.script) : CLI, ...args], {
      env: { ...inherited(), LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let partial = '';
    const problems: LogLine[] = [];
    const seen: { line: LogLine; raw: string }[] = []; // lines that matter for waiters: non-job lines
    const waiters = new Set<(line: LogLine, raw: string) => void>();
    const onData = (d: Buffer) => {
      const text = d.toString();
      out += text;
      if (out.length > keep * 1.25) out = out.slice(out.length - keep);
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const raw of lines) {
        if (raw.trim() === '') continue;
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          line = { msg: raw };
        }
        if ((line.level ?? 0) >= 40) problems.push(line);
        if (line.msg !== 'job started' && line.msg !== 'job finished' && line.msg !== 'request completed') {
          seen.push({ line, raw });
          if (seen.length > 5000) seen.splice(0, 1000);
        }
        for (const w of waiters) w(line, raw);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let gone = false;
    void exited.then(() => (gone = true));
    const proc: JobqProcess = {
      name,
      child,
      pid: child.pid!,
      output: () => out,
      problems: () => problems,
      alive: () => !gone && child.exitCode === null && child.signalCode === null,
      exited,
      maxRssMb: 0,
      sampleRss() {
        const mb = rssMb(child.pid!);
        if (mb > proc.maxRssMb) proc.maxRssMb = mb;
        return mb;
      },
      waitForLine(match, ms, what = 'a log line') {
        const old = seen.find((s) => match(s.line, s.raw));
        if (old) return Promise.resolve(old.line);
        return new Promise<LogLine>((resolve, reject) => {
          const done = (err?: Error, line?: LogLine) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            if (err) reject(err);
            else resolve(line!);
          };
          const waiter = (line: LogLine, raw: string) => {
            if (match(line, raw)) done(undefined, line);
          };
          const timer = setTimeout(() => done(new Error(`${name}: no ${what} within ${ms} ms\n${out.slice(-3000)}`)), ms);
          waiters.add(waiter);
          void exited.then(({ code, signal }) => done(new Error(`${name} exited (${code ?? signal}) before ${what}\n${out.slice(-3000)}`)));
        });
      },
      async url(kind, ms = 60_000) {
        const msg = kind === 'api' ? 'API listening' : 'metrics listening';
        const line = await proc.waitForLine((l) => l.msg === msg, ms, `"${msg}"`);
        return String(line.url).replace(/\/metrics$/, '');
      },
    };
    this.all.push(proc);
    return proc;
  }

  /** SIGKILLs every process still running and waits for them to be gone. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.all.map(async (p) => {
        if (p.alive()) p.child.kill('SIGKILL');
        await p.exited;
      }),
    );
  }

  /** Samples every live process's RSS. */
  sampleRss(): void {
    for (const p of this.all) if (p.alive()) p.sampleRss();
  }

  maxRssMb(): number {
    return Math.max(0, ...this.all.map((p) => p.maxRssMb));
  }
}

/** Calls `fn` every `ms` until the returned stop() is called; never overlaps calls. */
export function every(ms: number, fn: () => unknown): { stop(): Promise<void> } {
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    current = current.then(fn).catch(() => {});
  }, ms);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}

/** Polls every `pollMs` until `check` returns a value (not undefined), or fails after `ms`: the tests' own, polling less often. */
export function eventually<T>(check: () => Promise<T | undefined> | T | undefined, ms: number, what = 'condition', pollMs = 50): Promise<T> {
  return pollUntil(check, ms, what, pollMs);
}

/** A pause the scenario paces itself by (never a wait for a condition: that is `eventually`). */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
