/**
 * The Grafana dashboard and the Prometheus alert rules in deploy/: well-formed, and every metric they
 * name is one jobq really exports (names taken from a live registry, not a list kept by hand).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { setup } from '../helpers/fixtures.ts';

async function exportedNames(): Promise<Set<string>> {
  const s = await setup();
  const worker = await s.worker();
  const metrics = createMetrics({ queue: s.queue, worker, api: new EventEmitter() });
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(m.name + suffix);
    if (String(m.type) === 'summary') for (const suffix of ['_count', '_sum']) names.add(m.name + suffix);
  }
  return names;
}

const metricsIn = (expr: string) => [...expr.matchAll(/\b(jobq_[a-z0-9_]+)/g)].map((m) => m[1]!);

test('alert rules are well-formed and name only exported metrics', async () => {
  const names = await exportedNames();
  const doc = parse(readFileSync('deploy/prometheus/alerts.yml', 'utf8'));
  const rules = doc.groups.flatMap((g: { rules: unknown[] }) => g.rules) as Record<string, any>[];
  assert.ok(rules.length >= 3);
  const alerts = rules.map((r) => r.alert);
  for (const wanted of ['JobqQueueStuck', 'JobqFailureRateRising', 'JobqNoWorkersBusyWhileJobsWait']) assert.ok(alerts.includes(wanted), wanted);
  for (const r of rules) {
    assert.equal(typeof r.alert, 'string');
    assert.equal(typeof r.expr, 'string');
    assert.ok(r.labels?.severity, `${r.alert} has a severity`);
    assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert} is explained`);
    if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/);
    const used = metricsIn(r.expr);
    assert.ok(used.length > 0, r.alert);
    for (const m of used) assert.ok(names.has(m), `${r.alert} uses ${m}, which jobq does not export`);
    assert.equal(balanced(r.expr), true, `${r.alert}: unbalanced brackets`);
  }
});

test('the Grafana dashboard is well-formed and its panels query exported metrics', async () => {
  const names = await exportedNames();
  const dash = JSON.parse(readFileSync('deploy/grafana/jobq.json', 'utf8'));
  assert.equal(typeof dash.uid, 'string');
  assert.ok(Number.isInteger(dash.schemaVersion));
  const ids = dash.panels.map((p: { id: number }) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const titles = dash.panels.map((p: { title: string }) => p.title.toLowerCase()).join(' | ');
  for (const wanted of ['throughput', 'wait time', 'queue depth', 'oldest', 'worker slots']) assert.ok(titles.includes(wanted), wanted);
  for (const p of dash.panels) {
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0, p.title);
    assert.ok(p.targets.length > 0, p.title);
    for (const t of p.targets) {
      for (const m of metricsIn(t.expr)) assert.ok(names.has(m), `panel "${p.title}" uses ${m}, which jobq does not export`);
      assert.equal(balanced(t.expr), true, `${p.title}: unbalanced brackets`);
    }
  }
});

function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const ch of expr.replace(/"[^"]*"/g, '')) {
    if ('([{'.includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}
