/**
 * `send_email`: sends a plain-text message {to, subject, body}. With an SMTP URL it goes through
 * nodemailer's SMTP transport (one transporter per kind instance); SMTP 5xx rejections fail the job
 * permanently, 4xx replies and connection problems are retried. Without one, the rendered message is
 * written to `<outboxDir>/<jobId>.eml` (rewritten, not duplicated, when a job runs again). The
 * Message-ID is `<jobId@jobq>` so a re-delivered job is recognisable downstream. The SMTP password
 * never appears in results, logs or error messages. Outbox files are created 0600 (the folder 0700
 * when jobq creates it): a message is readable only by the user jobq runs as.
 *
 * Credentials never cross the network in clear text: with `smtp://user:pass@host` the connection must
 * be upgraded with STARTTLS before AUTH (nodemailer's `requireTLS`), else the delivery fails without
 * sending them; a URL that turns TLS off (`ignoreTLS=true`, `requireTLS=false`) is refused at start.
 * `smtps://` (TLS from the first byte) needs nothing. A relay that really has no TLS (a local test
 * server) is allowed with `?insecure=true` on the URL, which jobq reads and removes.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import nodemailer, { type NodemailerError, type SendMailOptions } from 'nodemailer';
import { type HandlerContext, type KindDefinition, PermanentError } from './registry.ts';
import { redactUrl } from '../redact.ts';

export const SendEmailPayload = Type.Object(
  {
    to: Type.String({ format: 'email', maxLength: 254, description: 'Recipient address.' }),
    subject: Type.String({ minLength: 1, maxLength: 998 }),
    body: Type.String({ maxLength: 1_000_000, description: 'Plain-text body.' }),
    from: Type.Optional(
      Type.String({ format: 'email', maxLength: 254, description: 'Sender; default the configured one.' }),
    ),
  },
  { additionalProperties: false },
);
export type SendEmailPayload = Static<typeof SendEmailPayload>;

export interface SendEmailOptions {
  /** smtp:// or smtps:// URL, credentials allowed (`smtp://user:pass@host:587`). Unset: write to the outbox. */
  smtpUrl?: string;
  outboxDir: string;
  from?: string;
}

export interface SendEmailResult {
  transport: 'smtp' | 'outbox';
  message_id: string;
  accepted?: string[];
  path?: string;
}

export const DEFAULT_FROM = 'jobq@localhost';
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;


/** Removes every form of `secret` that might show up in text. */
function scrubber(secret: string): (text: string) => string {
  const forms = [...new Set([secret, encodeURIComponent(secret)].filter((s) => s.length > 0))];
  return (text) => forms.reduce((t, f) => t.split(f).join('***'), text);
}

const NO_TLS_HINT = 'use smtps://, enable STARTTLS on the server, or add insecure=true to the SMTP URL to allow clear text';

function smtpError(err: NodemailerError, scrub: (s: string) => string, tlsRequired: boolean): Error {
  const code = err.responseCode;
  const permanent =
    err.permanent ?? (typeof code === 'number' ? code >= 500 && code < 600 : err.code === 'EENVELOPE');
  const label = code ? ` (${code})` : err.code ? ` (${err.code})` : '';
  const why = tlsRequired && err.code === 'ETLS' ? `; jobq sends SMTP credentials only over TLS: ${NO_TLS_HINT}` : '';
  const message = scrub(`SMTP delivery failed${label}: ${err.message}${why}`);
  const out = permanent ? new PermanentError(message) : new Error(message);
  Object.assign(out, { code: err.code, responseCode: code });
  return out;
}

function createSmtp(url: string) {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`send_email: invalid SMTP URL ${redactUrl(url)}`);
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new Error(`send_email: SMTP URL must start with smtp:// or smtps://, got ${redactUrl(url)}`);
  }
  const q = parsed.searchParams;
  const insecure = q.get('insecure') === 'true';
  const tlsRequired = parsed.protocol === 'smtp:' && (parsed.username !== '' || parsed.password !== '') && !insecure;
  // nodemailer reads any value but false/0 as true (and an empty one as false).
  const falsy = (v: string | null) => v === null || ['false', '0', ''].includes(v);
  const tlsOff = !falsy(q.get('ignoreTLS')) || (q.has('requireTLS') && falsy(q.get('requireTLS')));
  if (tlsRequired && tlsOff) {
    throw new Error(
      `send_email: the SMTP URL ${redactUrl(url)} has credentials but turns TLS off, so they would cross the ` +
        'network in clear text; remove that parameter (STARTTLS is then required), use smtps://, or add ' +
        'insecure=true to the URL to allow clear text',
    );
  }
  let transportUrl = url;
  if (q.has('insecure')) {
    q.delete('insecure'); // jobq's own parameter, not nodemailer's
    transportUrl = parsed.href;
  }
  const transport = nodemailer.createTransport({
    url: transportUrl,
    requireTLS: tlsRequired, // a parameter of the URL would override it; the ones that turn TLS off are refused above
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 45_000,
    logger: false,
  });
  return { transport, tlsRequired, scrub: scrubber(decodeURIComponent(parsed.password)) };
}

export function sendEmailKind(opts: SendEmailOptions): KindDefinition<typeof SendEmailPayload> {
  const defaultFrom = opts.from ?? DEFAULT_FROM;
  const smtp = opts.smtpUrl ? createSmtp(opts.smtpUrl) : undefined;
  const outbox = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

  function message(payload: SendEmailPayload, ctx: HandlerContext, messageId: string): SendMailOptions {
    return {
      from: payload.from ?? defaultFrom,
      to: payload.to,
      subject: payload.subject,
      text: payload.body,
      messageId,
      headers: { 'X-Jobq-Job-Id': ctx.job.id },
      disableFileAccess: true,
      disableUrlAccess: true,
    };
  }

  async function viaSmtp(smtpTransport: ReturnType<typeof createSmtp>, mail: SendMailOptions, ctx: HandlerContext) {
    const { transport, scrub, tlsRequired } = smtpTransport;
    try {
      const info = await transport.sendMail({ ...mail, signal: ctx.signal });
      return info.accepted.map(String);
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw smtpError(err as NodemailerError, scrub, tlsRequired);
    }
  }

  async function toOutbox(mail: SendMailOptions, ctx: HandlerContext): Promise<string> {
    if (!SAFE_ID.test(ctx.job.id)) {
      throw new PermanentError(`job id ${JSON.stringify(ctx.job.id)} is not usable as a file name`);
    }
    let raw: Buffer;
    try {
      const info = await outbox.sendMail(mail);
      raw = info.message as Buffer;
    } catch (err) {
      throw new PermanentError(`could not render the message: ${(err as Error).message}`);
    }
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const dir = path.resolve(opts.outboxDir);
    const file = path.join(dir, `${ctx.job.id}.eml`);
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      // 0600: messages are private; 'wx': never through a file or link already at the temporary name.
      await writeFile(tmp, raw, { signal: ctx.signal, mode: 0o600, flag: 'wx' });
      await rename(tmp, file); // atomic: a reader sees the old file or the new one, never half of one
    } catch (err) {
      await rm(tmp, { force: true });
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw err;
    }
    return file;
  }

  async function handler(payload: SendEmailPayload, ctx: HandlerContext): Promise<SendEmailResult> {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const messageId = `<${ctx.job.id}@jobq>`;
    const mail = message(payload, ctx, messageId);
    if (smtp) {
      const accepted = await viaSmtp(smtp, mail, ctx);
      ctx.logger.info({ message_id: messageId, accepted }, 'email sent over SMTP');
      return { transport: 'smtp', message_id: messageId, accepted };
    }
    const file = await toOutbox(mail, ctx);
    ctx.logger.info({ message_id: messageId, path: file }, `email written to outbox ${file}`);
    return { transport: 'outbox', message_id: messageId, path: file };
  }

  return {
    name: 'send_email',
    description: 'Sends a plain-text email {to, subject, body} over SMTP, or writes it to the outbox directory.',
    payloadSchema: SendEmailPayload,
    // The original design's default: three attempts.
    defaultMaxAttempts: 3,
    timeoutMs: 60_000,
    handler,
  };
}
