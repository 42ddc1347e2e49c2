/**
 * The built-in job kinds (send_email, summarize_text, http, noop) and the options they are built from.
 */
import { httpKind } from './http.ts';
import { noopKind } from './noop.ts';
import type { KindDefinition } from './registry.ts';
import { sendEmailKind } from './send_email.ts';
import { summarizeTextKind } from './summarize_text.ts';

export interface BuiltinKindOptions {
  /** smtp:// or smtps:// URL; unset, send_email writes .eml files to `outboxDir` instead. */
  smtpUrl?: string;
  outboxDir: string;
  /** Default sender of send_email. */
  mailFrom?: string;
  /** Hosts the http kind may reach although they resolve to private/loopback/link-local addresses. */
  httpAllowHosts: string[];
}

export function builtinKinds(opts: BuiltinKindOptions): KindDefinition<any>[] {
  const mail: { smtpUrl?: string; outboxDir: string; from?: string } = { outboxDir: opts.outboxDir };
  if (opts.smtpUrl) mail.smtpUrl = opts.smtpUrl;
  if (opts.mailFrom) mail.from = opts.mailFrom;
  return [sendEmailKind(mail), summarizeTextKind, httpKind({ allowHosts: opts.httpAllowHosts }), noopKind];
}

export { httpKind } from './http.ts';
export { noopKind } from './noop.ts';
export { sendEmailKind } from './send_email.ts';
export { isForbiddenAddress } from './ssrf.ts';
export { summarize, summarizeTextKind } from './summarize_text.ts';
