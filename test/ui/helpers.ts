/**
 * The dashboard in a real browser (issue #20): Debian's Chromium driven by playwright-core (no browser
 * download), the UI built once per test file by scripts/build-ui.mjs, and a live jobq on a fresh
 * database: the API with its event hub and the dashboard on a real socket, and an in-process worker.
 *
 * Without Chromium the tests are skipped with a message saying how to install it; with CI set, they fail.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { Type } from '@sinclair/typebox';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildUi } from '../../scripts/build-ui.mjs';
import { EventHub, type HubOptions } from '../../src/events/index.ts';
import type { KindRegistry } from '../../src/kinds/registry.ts';
import type { Queue } from '../../src/queue/queue.ts';
import type { Worker } from '../../src/worker/worker.ts';
import { buildTestApp, listen } from '../helpers/api.ts';
import { testKinds, type TestDatabase } from '../helpers/db.ts';
import { setup, silent } from '../helpers/worker.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** JOBQ_CHROMIUM, else Debian's /usr/bin/chromium, else undefined. */
export function chromiumPath(): string | undefined {
  const given = process.env.JOBQ_CHROMIUM;
  if (given) return existsSync(given) ? given : undefined;
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
}

/**
 * The `skip` option of every browser test: false when Chromium is there; a message when it is not
 * (and CI is not set: then this throws, so that CI never passes without the browser tests).
 */
export function skipWithoutChromium(): string | false {
  if (chromiumPath()) return false;
  const how = 'no Chromium found: install it (`apt-get install chromium`) or point JOBQ_CHROMIUM at one';
  if (process.env.CI) throw new Error(`the dashboard's browser tests need Chromium in CI: ${how}`);
  console.log(`# skipping the dashboard's browser tests: ${how}`);
  return `skipped: ${how}`;
}

let browser: Promise<Browser> | undefined;
/** One browser per test file, closed after it (call it first at the file's top level, as startDashboard does). */
export function launch(): Promise<Browser> {
  if (!browser) {
    browser = chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    after(async () => (await browser)?.close());
  }
  return browser;
}

/** A temporary directory of this test file, removed after it. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-ui-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let built: Promise<{ dir: string; files: { file: string; bytes: number; gzipBytes: number }[] }> | undefined;
/** The dashboard built once per test file into a temporary directory. */
export function builtUi() {
  built ??= (async () => {
    const dir = path.join(tempDir(), 'ui');
    const files = await buildUi({ outDir: dir });
    return { dir, files };
  })();
  return built;
}

/** A gate a handler waits on, opened by the test. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

export interface Dashboard {
  url: string;
  queue: Queue;
  db: TestDatabase;
  /** The gates of `gated` jobs, by payload name (a job waits on its gate, created on first use). */
  gates: Map<string, ReturnType<typeof gate>>;
  worker: Worker | undefined;
}

/**
 * Kinds: the built-in ones, `boom` (throws an Error with its payload's message: a real stack each
 * attempt) and `gated` (reports progress 1 of 4 with a message, then waits for its gate, then returns).
 */
function kinds(gates: Dashboard['gates']): KindRegistry {
  const gateOf = (name: string) => {
    if (!gates.has(name)) gates.set(name, gate());
    return gates.get(name)!;
  };
  return testKinds()
    .register({
      name: 'boom',
      description: 'Fails with its message.',
      payloadSchema: Type.Object({ message: Type.String() }),
      handler: (p) => {
        throw new Error(p.message);
      },
    })
    .register({
      name: 'gated',
      description: 'Waits for the test to open its gate.',
      payloadSchema: Type.Object({ name: Type.String() }),
      timeoutMs: 120_000,
      handler: async (p, ctx) => {
        await ctx.progress({ current: 1, total: 4 }, 'step 1 of 4: waiting for the gate');
        await gateOf(p.name).wait;
        return { gate: p.name, done: true };
      },
    });
}

/**
 * jobq on a fresh database with the dashboard built for this file: API (with `apiKeys`, if any), its
 * event hub and, unless `worker: false`, a worker of concurrency 4 on the queues default, mail and
 * reports (so that jobs of other queues stay queued). Retries wait 10-50 ms.
 */
export async function startDashboard(opts: { apiKeys?: string[]; worker?: boolean; hubOptions?: Partial<HubOptions> } = {}): Promise<Dashboard> {
  const gates: Dashboard['gates'] = new Map();
  after(() => gates.forEach((g) => g.open())); // let gated handlers end before the worker stops
  const s = await setup(kinds(gates), { backoff: { baseMs: 10, capMs: 50 } });
  const hub = new EventHub({ url: s.db.listenUrl ?? s.db.url, db: s.db.pool, logger: silent, onRegistered: () => s.queue.publisher.onListenersChanged(), ...opts.hubOptions });
  const { dir } = await builtUi();
  await launch();
  const { app } = await buildTestApp({ queue: s.queue, hub, ui: { dir }, config: { apiKeys: opts.apiKeys ?? [] } });
  const url = await listen(app);
  const worker = opts.worker === false ? undefined : await s.worker({ concurrency: 4, queues: ['default', 'mail', 'reports'], pollIntervalMs: 200 });
  return { url, queue: s.queue, db: s.db, gates, worker };
}

export interface Tab {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested. */
  requests: string[];
  /** Console errors and warnings, page errors and CSP violations. */
  problems: string[];
  /** Every request went to `origin`, and nothing went wrong in the page (`allow`: problems expected, by pattern). */
  assertClean(allow?: RegExp): void;
}

/** A new browser context (1280×800) and page with what it requests and reports recorded; closed after the calling test. */
export async function openTab(base: string, opts: { colorScheme?: 'light' | 'dark' } = {}): Promise<Tab> {
  const b = await launch();
  const context = await b.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: 'Europe/Paris', colorScheme: opts.colorScheme ?? 'light' });
  after(() => context.close());
  // A CSP violation is reported in the console too; this makes it explicit, whatever the browser logs.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`));
  });
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const origin = new URL(base).origin;
  return {
    page,
    context,
    requests,
    problems,
    assertClean(allow) {
      assert.ok(requests.length > 0, 'the page made requests');
      const foreign = requests.filter((u) => new URL(u).origin !== origin);
      assert.deepEqual(foreign, [], `requests to other origins than ${origin}`);
      assert.deepEqual(problems.filter((p) => !allow?.test(p)), [], 'console errors, page errors or CSP violations');
    },
  };
}

/** Polls `check` until it returns a value (not undefined) or throws no more; fails after `ms`. */
export async function expectEventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The screenshots the README shows (docs/ui/<name>.png). */
const DOCUMENTED = new Set(['overview', 'jobs', 'job']);

/** Saves a screenshot under `dir`; with JOBQ_UPDATE_SCREENSHOTS=1, a documented one also as docs/ui/<name>.png. */
export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const file = path.join(dir, `${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: false });
  if (process.env.JOBQ_UPDATE_SCREENSHOTS === '1' && DOCUMENTED.has(name)) {
    mkdirSync(path.join(ROOT, 'docs', 'ui'), { recursive: true });
    writeFileSync(path.join(ROOT, 'docs', 'ui', `${name}.png`), png);
  }
  return file;
}

export interface Seeded {
  succeeded: string[];
  /** boom on reports, 3 attempts, each failing with a real stack. */
  failed: string;
  /** gated on mail (gate "a"), running with progress 1 of 4. */
  running: string;
  /** noop on default waiting for `running`. */
  child: string;
  /** noop jobs on imports, a queue no worker serves. */
  queued: string[];
  /** summarize_text with a long text (its payload folds). */
  summary: string;
}

/** Real jobs on several queues, run by the worker until each is where its name says. */
export async function seed(d: Dashboard): Promise<Seeded> {
  const q = d.queue;
  const made = await q.enqueueMany([
    { kind: 'noop', payload: {}, queue: 'default' },
    { kind: 'noop', payload: { sleep_ms: 1 }, queue: 'default' },
    { kind: 'noop', payload: {}, queue: 'mail' },
    { kind: 'noop', payload: {}, queue: 'reports' },
  ]);
  const long = `${'The quarterly report is long. '.repeat(12)}It ends here.`;
  const summary = (await q.enqueue({ kind: 'summarize_text', payload: { text: long, max_sentences: 1 }, queue: 'reports' })).job.id;
  const failed = (await q.enqueue({ kind: 'boom', payload: { message: 'the printer is on fire' }, queue: 'reports', maxAttempts: 3 })).job.id;
  const running = (await q.enqueue({ kind: 'gated', payload: { name: 'a' }, queue: 'mail' })).job.id;
  const child = (await q.enqueue({ kind: 'noop', payload: {}, queue: 'default', dependsOn: [running] })).job.id;
  const queued = (await q.enqueueMany([{ kind: 'noop', payload: {}, queue: 'imports' }, { kind: 'noop', payload: {}, queue: 'imports', idempotencyKey: 'import-2024-06' }])).map((r) => r.job.id);
  // A schedule that ticks once a year (at 06:00 on 1 January in Paris): it shows on the overview and,
  // unless the tests run in that very minute, makes no job.
  await q.schedules.set({ name: 'annual-report', cron: '0 6 1 1 *', timezone: 'Europe/Paris', job: { kind: 'send_email', payload: { to: 'ops@example.com', subject: 'Annual report', body: 'Attached' }, queue: 'mail' } });
  const succeeded = [...made.map((r) => r.job.id), summary];
  const status = async (id: string) => (await q.get(id))?.status;
  await expectEventually(async () => {
    for (const id of succeeded) if ((await status(id)) !== 'succeeded') return undefined;
    if ((await status(failed)) !== 'failed_permanent') return undefined;
    const r = await q.get(running);
    return r?.status === 'running' && r.progress ? true : undefined;
  }, 'the seeded jobs to settle');
  return { succeeded, failed, running, child, queued, summary };
}
