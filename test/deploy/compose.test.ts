/**
 * deploy/compose.yaml, its Prometheus and Grafana files and deploy/.env.example: valid against the
 * Compose specification, and right in what each service needs: pinned images, jobq's commands and
 * settings, the database and the start order, the scrape targets and the rules, the provisioning
 * mounts, and no committed secret. Each jobq service is also started for real, as a process with the
 * environment Compose would give its container, in Compose's order.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { COMMAND_SETTINGS, isLoopback, resolveConfig, SETTINGS } from '../../src/config.ts';
import { eventually, freshDatabase } from '../helpers/fixtures.ts';
import {
  bindMounts, buildsJobq, COMPOSE_FILE, composeValidator, DEPLOY, durationMs, ENV_EXAMPLE, environmentOf, exampleEnv,
  interpolate, jobqCommand, jobqEnv, parseEnvFile, readCompose, readComposeRaw, type Service,
} from './helpers/compose.ts';
import { healthcheckCommand, readStages } from './helpers/dockerfile.ts';
import { runCheck, startJobq, stop } from './helpers/run.ts';

const compose = readCompose();
const services = Object.entries(compose.services);
const jobq = services.filter(([, s]) => buildsJobq(s));
const byCommand = (command: string) => jobq.filter(([, s]) => jobqCommand(s) === command);
const one = (command: string): [string, Service] => {
  const found = byCommand(command);
  assert.equal(found.length, 1, `one service runs jobq ${command}`);
  return found[0]!;
};
const byImage = (prefix: string): [string, Service] => {
  const found = services.filter(([, s]) => s.image?.startsWith(prefix));
  assert.equal(found.length, 1, `one ${prefix} service`);
  return found[0]!;
};
const configOf = (s: Service) => resolveConfig({}, jobqEnv(s));
const SECRET_NAME = /password|secret|token|credentials|api_?keys?\b/i;

test('the compose file is valid Compose, and Compose refuses to start it without the secrets', () => {
  const validate = composeValidator();
  assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
  // The schema is in force: each of these breaks the file.
  const broken: ((c: any) => void)[] = [
    (c) => (c.services.api.depends_on.postgres.condition = 'healthy'),
    (c) => (c.services.api.ports = ['8080:http']),
    (c) => (c.services.api.stop_grace_period = '40 seconds'),
    (c) => (c.services.worker.deploy.replicas = 'two'),
    (c) => (c.services.api.helthcheck = {}),
  ];
  for (const breakIt of broken) {
    const c = structuredClone(compose);
    breakIt(c);
    assert.equal(validate(c), false, breakIt.toString());
  }
  const { missing } = interpolate(readComposeRaw(), {});
  for (const name of ['JOBQ_API_KEY', 'POSTGRES_PASSWORD', 'GRAFANA_ADMIN_PASSWORD']) assert.ok(missing.includes(name), `${name} is required`);
});

test('secrets come from deploy/.env, which git ignores; none is committed', () => {
  const example = parseEnvFile(readFileSync(ENV_EXAMPLE, 'utf8'));
  const { variables } = interpolate(readComposeRaw(), {});
  for (const name of variables.keys()) assert.ok(name in example, `${name} is read by the compose file but not in deploy/.env.example`);
  for (const [name, value] of Object.entries(example)) {
    if (!SECRET_NAME.test(name) && !/_KEY$/.test(name)) continue;
    assert.equal(value, '', `deploy/.env.example gives ${name} a value`);
    assert.equal(variables.get(name)?.required, true, `${name}: \${${name}:?...}, so Compose refuses to run without it`);
  }
  // In every file of deploy/ git would commit, a secret-named setting is empty or an interpolation, and so is a URL's password.
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', DEPLOY], { encoding: 'utf8' }).split('\n').filter((f) => /\.(ya?ml|json)$/.test(f));
  assert.ok(files.includes(COMPOSE_FILE));
  const literal = (v: unknown) => typeof v === 'string' && v !== '' && !v.includes('${');
  const walk = (file: string, node: unknown, where: string): void => {
    if (Array.isArray(node)) node.forEach((v, i) => walk(file, v, `${where}[${i}]`));
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        assert.ok(!(SECRET_NAME.test(k) && literal(v)), `${file}: ${where}.${k} holds a secret`);
        walk(file, v, `${where}.${k}`);
      }
    } else if (typeof node === 'string') {
      const password = /^[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:([^@\s]*)@/i.exec(node)?.[1];
      assert.ok(password === undefined || password.includes('${'), `${file}: ${where} holds a password`);
    }
  };
  for (const f of files) walk(f, f.endsWith('.json') ? JSON.parse(readFileSync(f, 'utf8')) : parse(readFileSync(f, 'utf8'), { merge: true }), '');
  const ignored = spawnSync('git', ['check-ignore', '-q', path.join(DEPLOY, '.env')]);
  assert.equal(ignored.status, 0, 'deploy/.env is gitignored');
});

test('third-party images are pinned to a release; every jobq service runs the image this repository\'s Dockerfile builds', () => {
  assert.ok(jobq.length >= 3);
  const images = new Set(jobq.map(([, s]) => s.image));
  assert.equal(images.size, 1, 'one image for all jobq services, built once');
  for (const [name, s] of services.filter(([, s]) => !buildsJobq(s))) {
    assert.match(s.image ?? '', /^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?(@sha256:[0-9a-f]{64})?$/, `${name}: a released version, not a moving tag`);
  }
  assert.match(byImage('postgres:')[1].image!, /^postgres:17\./, 'PostgreSQL 17');
  byImage('prom/prometheus:');
  byImage('grafana/grafana:');
});

test('jobq services: a one-shot migration, one api, two workers, each on the postgres service, started in order', () => {
  for (const [name, s] of jobq) assert.ok(jobqCommand(s) in COMMAND_SETTINGS, `${name}: jobq ${jobqCommand(s)} is not a command`);
  const [migrateName, migrate] = one('migrate');
  const [, api] = one('api');
  const workers = byCommand('worker');
  assert.equal(workers.reduce((n, [, s]) => n + (s.deploy?.replicas ?? 1), 0), 2, 'two workers');
  assert.equal(byCommand('serve').length, 0, 'api and workers scale apart');

  const [pgName, pg] = byImage('postgres:');
  const pgEnv = environmentOf(pg);
  assert.match(JSON.stringify(pg.healthcheck?.test), /pg_isready/, 'postgres has a health check');
  const data = (pg.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target]));
  assert.ok(data.some(([source, target]) => target === '/var/lib/postgresql/data' && source && source in (compose.volumes ?? {})), 'its data on a named volume');

  const known = new Set<string>(Object.values(SETTINGS).map((s) => s.env));
  for (const [name, s] of jobq) {
    for (const k of Object.keys(environmentOf(s))) assert.ok(known.has(k), `${name}: ${k} is not a jobq setting`);
    const config = configOf(s);
    const url = new URL(config.databaseUrl ?? '');
    assert.equal(url.hostname, pgName, `${name}: DATABASE_URL points at the ${pgName} service`);
    assert.equal(url.port || '5432', '5432');
    assert.equal(decodeURIComponent(url.username), pgEnv.POSTGRES_USER);
    assert.equal(decodeURIComponent(url.password), pgEnv.POSTGRES_PASSWORD);
    assert.equal(url.pathname, `/${pgEnv.POSTGRES_DB}`);
    const after = s.depends_on as Record<string, { condition: string }>;
    assert.equal(after?.[pgName]?.condition, 'service_healthy', `${name} waits for PostgreSQL to be healthy`);
    if (s === migrate) continue;
    assert.equal(after[migrateName]?.condition, 'service_completed_successfully', `${name} starts after the migration`);
    assert.equal(config.migrate, false, `${name} leaves the schema to ${migrateName}`);
    assert.ok(durationMs(s.stop_grace_period ?? '10s') > config.shutdownGraceMs, `${name}: stop_grace_period outlasts JOBQ_SHUTDOWN_GRACE_MS, so running jobs are not cut short`);
  }
  assert.equal(configOf(migrate).migrate, true);
  assert.ok((migrate.restart ?? 'no') === 'no', 'the migration runs once');
  assert.equal(migrate.healthcheck?.disable, true, 'a one-shot has no /readyz to check');

  const apiConfig = configOf(api);
  const published = (api.ports ?? []).map((p) => (typeof p === 'object' ? p.target : Number(String(p).split(':').at(-1)!.split('/')[0])));
  assert.ok(published.includes(apiConfig.port), `the API's port ${apiConfig.port} is published`);
  for (const [name, w] of workers) {
    const c = configOf(w);
    assert.ok(c.metricsPort !== undefined && !isLoopback(c.metricsHost), `${name} serves /metrics where Prometheus reaches it`);
    assert.equal(w.healthcheck?.test?.[0], 'CMD', `${name} has its own health check (a worker has no /readyz)`);
  }
});

test('each jobq service starts with the environment Compose gives it: the migration, then the api and a worker, healthy, scrapable, running a job', async () => {
  const db = await freshDatabase({ migrated: false });
  const [, migrate] = one('migrate');
  const [, api] = one('api');
  const [, worker] = byCommand('worker')[0]!;

  const migration = startJobq('migrate', jobqEnv(migrate), db.url);
  assert.deepEqual(await migration.exited, { code: 0, signal: null }, migration.output());

  const apiProc = startJobq('api', jobqEnv(api), db.url);
  const apiPort = new URL(await apiProc.url('api')).port;
  const base = `http://127.0.0.1:${apiPort}`;
  assert.equal(await runCheck(healthcheckCommand(readStages().at(-1)!)!, { ...jobqEnv(api), PORT: apiPort }), 0, 'api: the image health check passes');

  const workerProc = startJobq('worker', jobqEnv(worker), db.url);
  const metricsPort = new URL(await workerProc.url('metrics')).port;
  const check = worker.healthcheck!.test as string[];
  assert.equal(await runCheck(check.slice(1), { ...jobqEnv(worker), JOBQ_METRICS_PORT: metricsPort }), 0, 'worker: its health check passes');

  // What Prometheus fetches, as prometheus.yml has it: no credentials.
  for (const url of [`${base}/metrics`, `http://127.0.0.1:${metricsPort}/metrics`]) {
    const res = await fetch(url);
    assert.equal(res.status, 200, url);
    assert.match(await res.text(), /^# TYPE jobq_jobs gauge$/m, url); // a gauge read from the database at scrape time
  }

  const key = exampleEnv().JOBQ_API_KEY!;
  const job = { kind: 'noop', payload: {} };
  const post = (headers: Record<string, string>) => fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(job) });
  assert.equal((await post({})).status, 401, 'the API key from deploy/.env is in force');
  const created = await post({ authorization: `Bearer ${key}` });
  assert.equal(created.status, 201);
  const { id } = (await created.json()) as { id: string };
  await eventually(async () => {
    const res = await fetch(`${base}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } });
    return ((await res.json()) as { status: string }).status === 'succeeded' ? true : undefined;
  }, 30_000, 'the worker to run the job');

  assert.deepEqual(await stop(workerProc), { code: 0, signal: null });
  assert.equal(await runCheck(check.slice(1), { ...jobqEnv(worker), JOBQ_METRICS_PORT: metricsPort }), 1, 'worker: unhealthy once stopped');
  assert.deepEqual(await stop(apiProc), { code: 0, signal: null });
});

test('Prometheus scrapes every jobq service on its metrics port and loads the jobq alert rules', () => {
  const [, prom] = byImage('prom/prometheus:');
  const mounts = bindMounts(prom);
  for (const m of mounts) assert.ok(existsSync(m.source), `prometheus mounts ${m.source}, which does not exist`);
  const configPath = /--config\.file=(\S+)/.exec(JSON.stringify(prom.command ?? ''))?.[1] ?? '/etc/prometheus/prometheus.yml';
  const configMount = mounts.find((m) => m.target === configPath);
  assert.ok(configMount, `${configPath} is mounted`);
  const config = parse(readFileSync(configMount.source, 'utf8')) as {
    rule_files?: string[];
    scrape_configs: { job_name: string; metrics_path?: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; type?: string; port: number }[] }[];
  };
  assert.ok(config.rule_files?.length, 'rule_files');
  for (const rules of config.rule_files) {
    const m = mounts.find((x) => x.target === rules);
    assert.ok(m, `rule file ${rules} is mounted`);
  }
  assert.ok(config.rule_files.some((r) => mounts.find((m) => m.target === r)?.source === 'deploy/prometheus/alerts.yml'), 'the jobq alert rules are loaded');

  const scraped = new Map<string, { port: number; discovered: boolean }>();
  for (const job of config.scrape_configs) {
    assert.ok((job.metrics_path ?? '/metrics') === '/metrics', job.job_name);
    for (const t of (job.static_configs ?? []).flatMap((s) => s.targets)) {
      const [host, port] = t.split(':');
      scraped.set(host!, { port: Number(port), discovered: false });
    }
    for (const d of job.dns_sd_configs ?? []) for (const n of d.names) scraped.set(n, { port: d.port, discovered: (d.type ?? 'SRV') === 'A' });
  }
  for (const host of scraped.keys()) assert.ok(host in compose.services, `scrape target ${host} is no service`);
  for (const [name, s] of jobq.filter(([, s]) => jobqCommand(s) !== 'migrate')) {
    const c = configOf(s);
    const port = jobqCommand(s) === 'worker' ? c.metricsPort : c.port; // api and serve: /metrics beside the API
    assert.equal(scraped.get(name)?.port, port, `${name} is scraped on ${port}`);
    if ((s.deploy?.replicas ?? 1) > 1) assert.ok(scraped.get(name)!.discovered, `${name}: every replica (DNS A records), not one of them`);
  }
});

test('Grafana is provisioned with the Prometheus data source and the jobq dashboard, from files that exist', () => {
  const [, grafana] = byImage('grafana/grafana:');
  const [promName] = byImage('prom/prometheus:');
  const mounts = bindMounts(grafana);
  for (const m of mounts) assert.ok(existsSync(m.source), `grafana mounts ${m.source}, which does not exist`);
  const provisioning = (kind: string) => {
    const m = mounts.find((x) => x.target === `/etc/grafana/provisioning/${kind}`);
    assert.ok(m && statSync(m.source).isDirectory(), `provisioning/${kind} is mounted`);
    const docs = readdirSync(m.source).filter((f) => /\.ya?ml$/.test(f)).map((f) => parse(readFileSync(path.join(m.source, f), 'utf8')));
    assert.ok(docs.length > 0 && docs.every((d) => d.apiVersion === 1), kind);
    return docs;
  };
  const datasources = provisioning('datasources').flatMap((d) => d.datasources as { type: string; uid?: string; url: string }[]);
  const prometheus = datasources.filter((d) => d.type === 'prometheus');
  assert.ok(prometheus.length > 0);
  for (const d of prometheus) assert.equal(d.url, `http://${promName}:9090`, 'the Prometheus service, on its port');

  const providers = provisioning('dashboards').flatMap((d) => d.providers as { type: string; options: { path: string } }[]);
  const dashboards = providers.flatMap((p) => {
    assert.equal(p.type, 'file');
    return mounts.filter((m) => m.target === p.options.path || m.target.startsWith(`${p.options.path}/`));
  });
  const mounted = dashboards.find((m) => m.source === 'deploy/grafana/jobq.json');
  assert.ok(mounted, 'the jobq dashboard is where a provider loads dashboards from');
  const home = environmentOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home !== undefined) assert.equal(home, mounted.target, 'the home dashboard is the mounted one');

  // Provisioning does not resolve an export's __inputs: every data source the dashboard names must be
  // a provisioned one, or a data source variable over a provisioned type.
  const dash = JSON.parse(readFileSync(mounted.source, 'utf8'));
  assert.equal(dash.__inputs, undefined, '__inputs only works when importing by hand');
  const variables = new Map<string, { type: string; query: string }>(dash.templating.list.map((v: { name: string; type: string; query: string }) => [v.name, v]));
  const refs: { uid: string; type: string }[] = [];
  const collect = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (node && typeof node === 'object') {
      const ds = (node as { datasource?: { uid: string; type: string } }).datasource;
      if (ds && typeof ds === 'object') refs.push(ds);
      Object.values(node).forEach(collect);
    }
  };
  collect(dash);
  assert.ok(refs.length > 0);
  for (const ref of refs) {
    const variable = /^\$\{?(\w+)\}?$/.exec(ref.uid)?.[1];
    if (variable === undefined) {
      assert.ok(datasources.some((d) => d.uid === ref.uid), `data source ${ref.uid} is not provisioned`);
      continue;
    }
    const v = variables.get(variable);
    assert.equal(v?.type, 'datasource', `\${${variable}} is a data source variable`);
    assert.ok(datasources.some((d) => d.type === v.query), `a provisioned ${v.query} data source for \${${variable}}`);
  }
});
