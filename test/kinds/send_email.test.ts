/**
 * Tests of the `send_email` kind against a real smtp-server on 127.0.0.1 (port chosen by the OS):
 * delivery, 5xx → PermanentError, 4xx → retryable Error, auth failure without leaking the password,
 * abort; credentials only over TLS (STARTTLS required, URLs that turn TLS off refused, `insecure=true`
 * to allow clear text); and the outbox mode (file per job id, parseable headers, idempotent rewrite,
 * private file modes).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { builtinKinds } from '../../src/kinds/index.ts';
import { type HandlerContext, KindRegistry, PermanentError } from '../../src/kinds/registry.ts';
import { redactUrl } from '../../src/redact.ts';
import { type SendEmailPayload, type SendEmailResult, sendEmailKind } from '../../src/kinds/send_email.ts';
import { isJobqError } from '../../src/errors.ts';
import { fakeCtx, FAKE_JOB_ID, parseMessage, startSmtp, type TestSmtp } from '../helpers/fixtures.ts';

const PASSWORD = 's3cr3t-P@ss';

/** The handler, typed: JobHandler's return type is `unknown`. */
function send(kind: ReturnType<typeof sendEmailKind>, p: SendEmailPayload, ctx: HandlerContext): Promise<SendEmailResult> {
  return Promise.resolve(kind.handler(p, ctx)) as Promise<SendEmailResult>;
}

const isRetryable = (e: unknown) => e instanceof Error && !(e instanceof PermanentError);
const payload = { to: 'alice@example.com', subject: 'Hello from jobq', body: 'Line one.\nLine two.\n' };

describe('send_email over SMTP', () => {
  let open: TestSmtp;
  let rcptCode = 0;
  let holdMail: (() => void) | undefined;
  let mailSeen: (() => void) | undefined;

  before(async () => {
    open = await startSmtp({
      authOptional: true,
      onMailFrom(_addr, _session, cb) {
        if (!holdMail) return cb();
        mailSeen?.();
        holdMail = () => cb(); // released only after the test's abort
      },
      onRcptTo(_addr, _session, cb) {
        if (!rcptCode) return cb();
        cb(Object.assign(new Error(rcptCode >= 500 ? 'Mailbox unavailable' : 'Try again later'), { responseCode: rcptCode }));
      },
    });
  });
  after(() => open.close());

  it('delivers the message with To, Subject, body and a Message-ID from the job id', async () => {
    const logs: string[] = [];
    const kind = sendEmailKind({ smtpUrl: open.url, outboxDir: '/nonexistent', from: 'queue@example.org' });
    const result = await send(kind, payload, fakeCtx({ logs }));
    assert.deepEqual(result, { transport: 'smtp', message_id: `<${FAKE_JOB_ID}@jobq>`, accepted: ['alice@example.com'] });
    assert.equal(open.messages.length, 1);
    const { headers, body } = parseMessage(open.messages[0] ?? '');
    assert.deepEqual(
      ['to', 'from', 'subject', 'message-id'].map((h) => headers.get(h)),
      ['alice@example.com', 'queue@example.org', 'Hello from jobq', `<${FAKE_JOB_ID}@jobq>`],
    );
    assert.equal(body.trimEnd(), 'Line one.\nLine two.');
    assert.ok(logs.some((l) => l.includes('email sent over SMTP')));
  });

  it('uses the payload sender over the default', async () => {
    const kind = sendEmailKind({ smtpUrl: open.url, outboxDir: '/nonexistent' });
    await send(kind, { ...payload, from: 'bob@example.net' }, fakeCtx());
    assert.equal(parseMessage(open.messages.at(-1) ?? '').headers.get('from'), 'bob@example.net');
  });

  it('fails permanently on a 5xx rejection and retryably on a 4xx reply', async () => {
    const kind = sendEmailKind({ smtpUrl: open.url, outboxDir: '/nonexistent' });
    const delivered = open.messages.length;
    try {
      rcptCode = 550;
      await assert.rejects(send(kind, payload, fakeCtx()), (e) => e instanceof PermanentError && /550/.test(e.message));
      rcptCode = 450;
      await assert.rejects(send(kind, payload, fakeCtx()), (e) => isRetryable(e) && /450/.test((e as Error).message));
      assert.equal(open.messages.length, delivered);
    } finally {
      rcptCode = 0;
    }
  });

  it('fails retryably when the server cannot be reached', async () => {
    const gone = await startSmtp({ authOptional: true });
    const url = gone.url;
    await gone.close();
    const kind = sendEmailKind({ smtpUrl: url, outboxDir: '/nonexistent' });
    await assert.rejects(send(kind, payload, fakeCtx()), isRetryable);
  });

  it('rejects with the abort reason, without connecting when already aborted', async () => {
    const kind = sendEmailKind({ smtpUrl: open.url, outboxDir: '/nonexistent' });
    const early = new AbortController();
    early.abort('cancelled');
    const before = open.connections;
    await assert.rejects(send(kind, payload, fakeCtx({ controller: early })), (e) => e === 'cancelled');
    assert.equal(open.connections, before);

    const controller = new AbortController();
    const reason = new Error('job timed out');
    const seen = new Promise<void>((resolve) => (mailSeen = resolve));
    holdMail = () => {};
    const pending = send(kind, payload, fakeCtx({ controller }));
    await seen; // the session is waiting on MAIL FROM
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    holdMail();
    holdMail = undefined;
  });

  it('never reveals the SMTP password in errors or logs', async () => {
    const authServer = await startSmtp({
      allowInsecureAuth: true,
      onAuth(_auth, _session, cb) {
        cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
    });
    try {
      // insecure=true: this server has no TLS, and the test is about a failed AUTH.
      const url = `${authServer.url.replace('smtp://', `smtp://mailer:${encodeURIComponent(PASSWORD)}@`)}?insecure=true`;
      const logs: string[] = [];
      const kind = sendEmailKind({ smtpUrl: url, outboxDir: '/nonexistent' });
      const err = await send(kind, payload, fakeCtx({ logs })).then(() => assert.fail('expected a rejection'), (e: Error) => e);
      assert.ok(err instanceof PermanentError, `expected PermanentError, got ${String(err)}`);
      assert.match(err.message, /535/);
      for (const text of [err.message, String(err.stack), JSON.stringify(err), ...logs]) {
        assert.ok(!text.includes(PASSWORD) && !text.includes(encodeURIComponent(PASSWORD)), text);
      }
      assert.equal(redactUrl(url).includes(encodeURIComponent(PASSWORD)), false);
      assert.match(redactUrl(url), /mailer:\*\*\*@127\.0\.0\.1/);
    } finally {
      await authServer.close();
    }
  });

  /** A server that accepts any login and records it, with (`tls`) or without STARTTLS. */
  async function authServer(tls: boolean) {
    const logins: { user: string; secure: boolean }[] = [];
    const server = await startSmtp({
      allowInsecureAuth: true,
      ...(tls ? { disabledCommands: [] } : {}),
      onAuth(auth, session, cb) {
        logins.push({ user: auth.username ?? '', secure: session.secure });
        cb(null, { user: auth.username });
      },
    });
    const withLogin = (query = '') => `${server.url.replace('smtp://', `smtp://mailer:${encodeURIComponent(PASSWORD)}@`)}${query}`;
    return Object.assign(server, { logins, withLogin });
  }

  it('never sends credentials over SMTP without TLS, failing the delivery with a clear message', async () => {
    const plain = await authServer(false);
    try {
      const kind = sendEmailKind({ smtpUrl: plain.withLogin(), outboxDir: '/nonexistent' });
      const err = await send(kind, payload, fakeCtx()).then(() => assert.fail('expected a rejection'), (e: Error) => e);
      assert.match(err.message, /credentials only over TLS/);
      assert.match(err.message, /insecure=true/);
      assert.ok(!err.message.includes(PASSWORD));
      assert.deepEqual([plain.logins, plain.messages.length], [[], 0], 'no AUTH, no message');
    } finally {
      await plain.close();
    }
  });

  it('sends credentials after STARTTLS when the server offers it', async () => {
    const tls = await authServer(true); // smtp-server's built-in self-signed certificate
    try {
      const kind = sendEmailKind({ smtpUrl: tls.withLogin('?tls.rejectUnauthorized=false'), outboxDir: '/nonexistent' });
      await send(kind, payload, fakeCtx());
      assert.deepEqual(tls.logins, [{ user: 'mailer', secure: true }]);
      assert.equal(tls.messages.length, 1);
    } finally {
      await tls.close();
    }
  });

  it('sends credentials in clear text only with insecure=true', async () => {
    const plain = await authServer(false);
    try {
      const kind = sendEmailKind({ smtpUrl: plain.withLogin('?insecure=true'), outboxDir: '/nonexistent' });
      await send(kind, payload, fakeCtx());
      assert.deepEqual(plain.logins, [{ user: 'mailer', secure: false }]);
      assert.equal(plain.messages.length, 1);
    } finally {
      await plain.close();
    }
  });

  it('refuses at start a URL with credentials that turns TLS off, unless insecure=true', () => {
    const login = `smtp://mailer:${encodeURIComponent(PASSWORD)}@mail.example.com:587`;
    for (const query of ['?ignoreTLS=true', '?ignoreTLS=1', '?requireTLS=false', '?requireTLS=0&x=1', '?ignoreTLS=true&insecure=false']) {
      assert.throws(
        () => sendEmailKind({ smtpUrl: `${login}${query}`, outboxDir: '/x' }),
        (e: Error) => /clear text/.test(e.message) && /insecure=true/.test(e.message) && !e.message.includes(PASSWORD),
        query,
      );
    }
    sendEmailKind({ smtpUrl: `${login}?ignoreTLS=true&insecure=true`, outboxDir: '/x' });
    sendEmailKind({ smtpUrl: `${login.replace('smtp:', 'smtps:')}?ignoreTLS=true`, outboxDir: '/x' });
    sendEmailKind({ smtpUrl: 'smtp://mail.example.com:25?ignoreTLS=true', outboxDir: '/x' }); // no credentials
  });

  it('refuses a URL that is not smtp(s), without echoing its password', () => {
    assert.throws(
      () => sendEmailKind({ smtpUrl: `http://u:${PASSWORD}@example.com`, outboxDir: '/x' }),
      (e: Error) => /smtp:\/\//.test(e.message) && !e.message.includes(PASSWORD),
    );
  });
});

describe('send_email to the outbox', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'jobq-outbox-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes <jobId>.eml with parseable headers, and rewrites it when the job runs again', async () => {
    const outboxDir = path.join(dir, 'nested', 'outbox');
    const kind = sendEmailKind({ outboxDir });
    const logs: string[] = [];
    const result = await send(kind, payload, fakeCtx({ logs }));
    const file = path.join(outboxDir, `${FAKE_JOB_ID}.eml`);
    assert.deepEqual(result, { transport: 'outbox', message_id: `<${FAKE_JOB_ID}@jobq>`, path: file });
    assert.ok(logs.some((l) => l.includes(file)), 'the path is logged');

    const { headers, body } = parseMessage(await readFile(file, 'utf8'));
    assert.deepEqual(
      ['to', 'from', 'subject', 'message-id'].map((h) => headers.get(h)),
      ['alice@example.com', 'jobq@localhost', 'Hello from jobq', `<${FAKE_JOB_ID}@jobq>`],
    );
    assert.ok(headers.has('date'));
    assert.equal(body.trimEnd(), 'Line one.\nLine two.');

    await send(kind, { ...payload, subject: 'Second run' }, fakeCtx());
    assert.deepEqual(await readdir(outboxDir), [`${FAKE_JOB_ID}.eml`]);
    assert.equal(parseMessage(await readFile(file, 'utf8')).headers.get('subject'), 'Second run');
  });

  it('creates messages 0600 and the folders it makes 0700, whatever the umask', async () => {
    const outboxDir = path.join(dir, 'private', 'outbox');
    const file = path.join(outboxDir, `${FAKE_JOB_ID}.eml`);
    const umask = process.umask(0);
    try {
      await send(sendEmailKind({ outboxDir }), payload, fakeCtx());
      const modes = async () => Promise.all([file, outboxDir, path.dirname(outboxDir)].map(async (p) => (await stat(p)).mode & 0o777));
      assert.deepEqual(await modes(), [0o600, 0o700, 0o700]);

      await writeFile(file, 'an older, world-readable copy', { mode: 0o644 });
      await send(sendEmailKind({ outboxDir }), payload, fakeCtx());
      assert.equal((await stat(file)).mode & 0o777, 0o600, 'a rewrite is private too');

      const existing = path.join(dir, 'existing');
      await mkdir(existing, { mode: 0o755 });
      await send(sendEmailKind({ outboxDir: existing }), payload, fakeCtx());
      assert.equal((await stat(existing)).mode & 0o777, 0o755, "a folder jobq did not make keeps its mode");
      assert.equal((await stat(path.join(existing, `${FAKE_JOB_ID}.eml`))).mode & 0o777, 0o600);
    } finally {
      process.umask(umask);
    }
  });

  it('keeps line breaks in the subject from injecting headers', async () => {
    const kind = sendEmailKind({ outboxDir: dir });
    await send(kind, { ...payload, subject: 'Hi\r\nBcc: mallory@example.com' }, fakeCtx());
    const { headers } = parseMessage(await readFile(path.join(dir, `${FAKE_JOB_ID}.eml`), 'utf8'));
    assert.equal(headers.has('bcc'), false);
  });

  it('rejects with the abort reason', async () => {
    const controller = new AbortController();
    controller.abort('shutdown');
    await assert.rejects(send(sendEmailKind({ outboxDir: dir }), payload, fakeCtx({ controller })), (e) => e === 'shutdown');
  });
});

describe('send_email payload validation', () => {
  const registry = new KindRegistry(builtinKinds({ outboxDir: '/nonexistent', httpAllowHosts: [] }));

  it('accepts good payloads', () => {
    registry.validate('send_email', payload);
    registry.validate('send_email', { ...payload, body: '', from: 'me@example.org' });
    assert.equal(registry.get('send_email')?.defaultMaxAttempts, 3);
  });

  it('rejects bad payloads naming the field', () => {
    const { subject: _omit, ...noSubject } = payload;
    const cases: [unknown, string][] = [
      [noSubject, '/payload/subject'],
      [{ ...payload, subject: '' }, '/payload/subject'],
      [{ ...payload, subject: 'x'.repeat(999) }, '/payload/subject'],
      [{ ...payload, to: 'not an address' }, '/payload/to'],
      [{ ...payload, from: 'nobody' }, '/payload/from'],
      [{ ...payload, body: 'x'.repeat(1_000_001) }, '/payload/body'],
      [{ ...payload, cc: 'x@example.com' }, '/payload/cc'],
    ];
    for (const [bad, where] of cases) {
      assert.throws(
        () => registry.validate('send_email', bad),
        (e) => isJobqError(e, 'payload_invalid') && e.details?.some((d) => d.path === where) === true,
        where,
      );
    }
  });
});
