/**
 * How /ui is served (src/api/ui.ts), over a real socket: the page for every /ui path, its assets
 * cached for good, a CSP that keeps the page to this origin, no key needed for the page while /v1
 * still needs one, a clear 503 where nothing was built, and nothing at all with the dashboard off.
 * The page itself is tested in a real browser in test/ui/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildUi } from '../../scripts/build-ui.mjs';
import { buildTestApp, listen } from '../helpers/fixtures.ts';

let dir: string;
let asset: string;
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'jobq-ui-'));
  const files = await buildUi({ outDir: dir });
  asset = files.find((f) => f.file.endsWith('.js'))!.file;
  assert.match(asset, /^assets\/app-[A-Z0-9]+\.js$/);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('every /ui path is the page, never cached, with a same-origin CSP; assets are immutable; /v1 still needs its key', async () => {
  const { app } = await buildTestApp({ ui: { dir }, config: { apiKeys: ['secret-key-0123456789'] } });
  const base = await listen(app);
  for (const p of ['/ui', '/ui/', '/ui/jobs?status=failed_permanent&queue=mail', '/ui/jobs/01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f']) {
    const res = await fetch(base + p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8', p);
    assert.equal(res.headers.get('cache-control'), 'no-cache', p);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(d), `${p}: ${csp}`);
    const html = await res.text();
    assert.ok(html.includes(`src="/ui/${asset}"`), html);
    assert.doesNotMatch(html, /https?:\/\//, 'the page names no other origin');
  }
  const js = await fetch(`${base}/ui/${asset}`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /^(application|text)\/javascript/);
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.ok((await js.text()).length > 1000);
  assert.equal((await fetch(`${base}/ui/assets/app-MISSING.js`)).status, 404);
  assert.equal((await fetch(`${base}/v1/stats`)).status, 401, 'the page is open, the data is not');
});

test('without a build, /ui says how to make one (503); with the dashboard off, there is no /ui', async () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'jobq-ui-none-'));
  after(() => rmSync(empty, { recursive: true, force: true }));
  const unbuilt = await buildTestApp({ ui: { dir: empty } });
  const res = await fetch(`${await listen(unbuilt.app)}/ui/`);
  assert.equal(res.status, 503);
  assert.match(await res.text(), /npm run build/);
  const off = await buildTestApp({ ui: false });
  assert.equal((await fetch(`${await listen(off.app)}/ui/`)).status, 404);
});
