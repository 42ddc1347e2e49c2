/**
 * Scenario 6b, the SSRF guard of the `http` kind, through real `jobq worker` processes. A target server
 * on 127.0.0.1 and ::1 counts every request it gets. Worker "open" may call nothing private; worker
 * "localhost" may call the host `localhost` only. Jobs aimed at the target by every loopback spelling
 * (IPv6, IPv4-mapped IPv6, integer and short forms, names that resolve to loopback such as `localhost`
 * and the machine's own hostname), or redirected to it (or to the cloud metadata address) from an
 * allowed host, fail permanently on their first attempt, and the target records no request.
 */
import assert from 'node:assert/strict';
import dns from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { test } from 'node:test';
import { isForbiddenAddress } from '../../src/kinds/ssrf.ts';
import { freshDatabase } from '../helpers/db.ts';
import { json, request, startTarget, type Target } from './helpers/http.ts';
import { baseEnv, startApi, startWorker } from './helpers/jobq.ts';
import { eventually, ProcessGroup } from './helpers/procs.ts';
import { report } from './helpers/report.ts';

/** Host names of this machine that resolve to a private or loopback address (from /etc/hosts and the hostname). */
async function privateNames(): Promise<string[]> {
  const names = new Set<string>(['localhost', 'LOCALHOST', 'localhost.', os.hostname()]);
  for (const line of readFileSync('/etc/hosts', 'utf8').split('\n')) {
    const [addr, ...hosts] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (addr && isForbiddenAddress(addr)) for (const h of hosts) if (h && !h.includes('ip6')) names.add(h);
  }
  const out: string[] = [];
  for (const name of names) {
    const found = await dns.lookup(name, { all: true }).catch(() => []);
    if (found.length > 0 && found.every((a) => isForbiddenAddress(a.address))) out.push(name);
  }
  return out;
}

test('SSRF guard: loopback, IPv6, mapped, DNS names and redirects are refused and never reached', { timeout: 120_000 }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const v4 = await startTarget(() => ({ status: 200 }));
  t.after(() => v4.close());
  // ::1 on the same port when free, so that one URL port reaches the target by either family.
  const v6: Target = await startTarget(() => ({ status: 200 }), { host: '::1', port: v4.port }).catch(() => startTarget(() => ({ status: 200 }), { host: '::1' }));
  t.after(() => v6.close());
  const P = v4.port;
  const P6 = v6.port;
  const redirects: Record<string, string> = {
    '/to-metadata': 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    '/to-loopback': `http://127.0.0.1:${P}/loot`,
    '/to-v6': `http://[::1]:${P6}/loot`,
    '/to-mapped': `http://[::ffff:127.0.0.1]:${P}/loot`,
    '/to-decimal': `http://2130706433:${P}/loot`,
    '/to-relative-then-loopback': `/to-loopback`,
  };
  const redirector = await startTarget((r) => (redirects[r.path] ? { status: 302, headers: { location: redirects[r.path]! } } : { status: 200 }));
  t.after(() => redirector.close());

  const db = await freshDatabase();
  const env = baseEnv(db.url, { JOBQ_BACKOFF_BASE_MS: '100' });
  const [{ url }] = await Promise.all([
    startApi(group, env),
    startWorker(group, { ...env, JOBQ_HTTP_ALLOW_HOSTS: '', JOBQ_QUEUES: 'open' }, 'ssrf-open', { metrics: false }),
    startWorker(group, { ...env, JOBQ_HTTP_ALLOW_HOSTS: 'localhost', JOBQ_QUEUES: 'localhost' }, 'ssrf-localhost', { metrics: false }),
  ]);
  const names = await privateNames();
  const direct = [
    `http://127.0.0.1:${P}/`,
    `http://[::1]:${P6}/`,
    `http://[::ffff:127.0.0.1]:${P}/`,
    `http://[::ffff:7f00:1]:${P}/`,
    `http://[0:0:0:0:0:ffff:127.0.0.1]:${P}/`,
    `http://2130706433:${P}/`,
    `http://0x7f000001:${P}/`,
    `http://127.1:${P}/`,
    `http://0.0.0.0:${P}/`,
    `http://[::]:${P}/`,
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    ...names.map((n) => `http://${n}:${P}/`),
  ];
  const viaRedirect = Object.keys(redirects).map((p) => `http://localhost:${redirector.port}${p}`);
  const enqueue = async (target: string, queue: string) => {
    const res = await request(url, 'POST', '/v1/jobs', { body: { kind: 'http', queue, max_attempts: 3, payload: { url: target, method: 'POST', body: { x: 1 } } } });
    assert.equal(res.status, 201, `${target}: ${res.body}`);
    return { target, id: json(res).id as string };
  };
  const jobs = [...(await Promise.all(direct.map((u) => enqueue(u, 'open')))), ...(await Promise.all(viaRedirect.map((u) => enqueue(u, 'localhost'))))];
  const control = await enqueue(`http://localhost:${redirector.port}/ok`, 'localhost');

  const finished = async (id: string) =>
    eventually(async () => {
      const job = json(await request(url, 'GET', `/v1/jobs/${id}`));
      return ['succeeded', 'failed_permanent', 'cancelled'].includes(job.status) ? job : undefined;
    }, 30_000, `job ${id} to finish`, 100);
  const results = await Promise.all(jobs.map(async (j) => ({ ...j, job: await finished(j.id) })));
  const ok = await finished(control.id);
  group.sampleRss();
  const wrong = results.filter((r) => r.job.status !== 'failed_permanent' || r.job.attempts !== 1 || !/SSRF guard|not allowed/.test(r.job.last_error ?? ''));
  report('security-ssrf', {
    jobs_enqueued: jobs.length + 1,
    succeeded: ok.status === 'succeeded' ? 1 : 0,
    duplicated_deliveries: null,
    lost: 0,
    stuck: 0,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: null,
  }, {
    blocked_urls: results.length - wrong.length,
    not_blocked: wrong.length,
    requests_reaching_target: v4.total() + v6.total(),
    private_names: names.join(' '),
    outcomes: results.map((r) => `${r.target} → ${r.job.status} after ${r.job.attempts}: ${String(r.job.last_error).slice(0, 140)}`),
  });

  assert.equal(ok.status, 'succeeded', `control job to an allowed host: ${JSON.stringify(ok)}`);
  assert.ok(redirector.requests.some((r) => r.path === '/ok'), 'the control job reached the redirector');
  assert.ok(names.includes('localhost'), `localhost resolves to loopback here: ${names.join(',')}`);
  assert.deepEqual(wrong.map((r) => `${r.target} → ${r.job.status} after ${r.job.attempts}: ${r.job.last_error}`), [], 'every job failed permanently at once, by the guard');
  assert.deepEqual([...v4.requests, ...v6.requests], [], 'the target never got a request');
});
