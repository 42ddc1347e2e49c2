/**
 * Every credential form node-postgres accepts in a connection string stays out of what jobq shows
 * (issue 14, item 9): user info, `password` and `sslpassword` (and other secret-named) parameters,
 * encoded or repeated, socket URLs, scheme-less strings; and a real `jobq migrate` logs none of it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { redactUrl } from '../src/redact.ts';
import { freshDatabase } from './helpers/fixtures.ts';

const SECRET = 'Hunter2-sEcReT';

test('redactUrl hides every credential form pg accepts and keeps the rest readable', () => {
  const cases: [string, RegExp | undefined][] = [
    [`postgres://app:${SECRET}@db.internal:5432/jobs`, /^postgres:\/\/app:\*\*\*@db\.internal:5432\/jobs$/],
    [`postgres://app@db.internal/jobs?password=${SECRET}`, /^postgres:\/\/app@db\.internal\/jobs\?password=\*\*\*$/],
    [`postgresql://db.internal/jobs?user=app&password=${SECRET}&sslmode=require`, /user=app&password=\*\*\*&sslmode=require$/],
    [`postgres://app@db.internal/jobs?sslmode=verify-full&sslkey=/etc/k.pem&sslpassword=${SECRET}`, /sslkey=\*\*\*&sslpassword=\*\*\*$/],
    [`postgres://app@db.internal/jobs?PassWord=${SECRET}`, /PassWord=\*\*\*$/],
    [`postgres://app@db.internal/jobs?pass%77ord=${SECRET}`, /password=\*\*\*$/],
    [`postgres://app@db.internal/jobs?password=${SECRET}&password=${SECRET}2`, /password=\*\*\*&password=\*\*\*$/],
    [`postgres://app@db.internal/jobs?password=${encodeURIComponent(`${SECRET} &x`)}`, /password=\*\*\*$/],
    [`socket:/var/run/postgresql?db=jobs&password=${SECRET}`, /^socket:\/var\/run\/postgresql\?db=jobs&password=\*\*\*$/],
    [`postgres://app:${SECRET}@/jobs?host=/var/run/postgresql`, undefined],
    [`app:${SECRET}@db.internal/jobs`, undefined],
    [`postgres://app@db.internal/jobs#${SECRET}`, /jobs#\*\*\*$/],
    [`smtp://mailer:${SECRET}@127.0.0.1:2525`, /^smtp:\/\/mailer:\*\*\*@127\.0\.0\.1:2525$/],
    // A `?` where `&` was meant: the password hides inside another parameter's value.
    [`postgresql://app@localhost/jobs?host=%2Ftmp%2Fpg&port=5432?password=${SECRET}`, /host=%2Ftmp%2Fpg&port=\*\*\*$/],
  ];
  for (const [url, shown] of cases) {
    const out = redactUrl(url);
    assert.ok(!out.includes(SECRET) && !out.includes(encodeURIComponent(SECRET)), `${url} → ${out}`);
    if (shown) assert.match(out, shown, url);
    else assert.equal(out, '(unparseable URL)', url);
  }
});

test('`jobq migrate` with a password in the query string and PGPASSWORD set logs neither', { timeout: 60_000 }, async () => {
  const db = await freshDatabase({ migrated: false });
  // The embedded server's URL has a query already (host, port): add to it, as a user would.
  const u = new URL(db.url);
  u.searchParams.append('password', SECRET);
  u.searchParams.append('sslpassword', SECRET);
  const url = u.toString();
  const out = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'migrate'], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: url, PGPASSWORD: `${SECRET}-env`, LOG_LEVEL: 'debug' },
    timeout: 60_000,
  });
  const text = out.stdout + out.stderr;
  assert.equal(out.status, 0, text);
  assert.match(text, /using PostgreSQL at postgres(ql)?:\/\/.*password=\*\*\*&sslpassword=\*\*\*/);
  assert.ok(!text.includes(SECRET), text);
});
