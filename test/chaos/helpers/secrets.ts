/**
 * For the security scenario: the secrets a deployment holds, every form they could leak in (plain,
 * URL-encoded, base64 as SMTP AUTH sends them), a scanner over collected text, and a fake SMTP server
 * that requires the password, rejects some recipients with 550 and can be told to refuse every login.
 */
import { startSmtp as startTestSmtp, type TestSmtp } from '../../helpers/smtp.ts';

export const SECRETS = {
  apiKeys: ['chaosKey-Alpha-7f3e9c41', 'chaosKey-Bravo-2b8d41aa'],
  smtpUser: 'chaosmailer',
  smtpPassword: 's3cretPW',
  dbPassword: 'dbPW123',
};

/** Every way a secret might show up in text. */
export function secretForms(): { name: string; form: string }[] {
  const { smtpUser, smtpPassword, dbPassword, apiKeys } = SECRETS;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    ...apiKeys.flatMap((k, i) => [{ name: `api key ${i}`, form: k }, { name: `api key ${i} base64`, form: b64(k) }]),
    { name: 'smtp password', form: smtpPassword },
    { name: 'smtp password base64 (AUTH LOGIN)', form: b64(smtpPassword) },
    { name: 'smtp credentials base64 (AUTH PLAIN)', form: b64(`\u0000${smtpUser}\u0000${smtpPassword}`) },
    { name: 'db password', form: dbPassword },
    { name: 'db password base64', form: b64(dbPassword) },
  ];
}

/** The secret forms found in `text`, with a little context each. */
export function findSecrets(where: string, text: string): string[] {
  const found: string[] = [];
  for (const { name, form } of secretForms()) {
    const i = text.indexOf(form);
    if (i >= 0) found.push(`${where}: ${name} in …${text.slice(Math.max(0, i - 120), i + form.length + 40)}…`);
  }
  return found;
}

export interface FakeSmtp extends TestSmtp {
  /** With the password, as jobq is configured. */
  urlWithPassword: string;
  logins: { ok: number; refused: number };
  refuseLogins: boolean;
}

/** The tests' SMTP server (test/helpers/smtp.ts), requiring SECRETS' login. */
export async function startSmtp(): Promise<FakeSmtp> {
  // onAuth reads the object returned, so that the test can set refuseLogins on it.
  const state = { logins: { ok: 0, refused: 0 }, refuseLogins: false };
  let fake: FakeSmtp | undefined;
  const server = await startTestSmtp({
    allowInsecureAuth: true,
    authOptional: false,
    onAuth(auth, _session, cb) {
      if (!fake?.refuseLogins && auth.username === SECRETS.smtpUser && auth.password === SECRETS.smtpPassword) {
        state.logins.ok++;
        return cb(null, { user: auth.username });
      }
      state.logins.refused++;
      cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith('reject')) return cb(Object.assign(new Error('mailbox unavailable: rejected by policy'), { responseCode: 550 }));
      cb();
    },
  });
  // This server has no TLS, and jobq sends SMTP credentials only over TLS unless told otherwise.
  const urlWithPassword = server.url.replace('smtp://', `smtp://${SECRETS.smtpUser}:${SECRETS.smtpPassword}@`) + '?insecure=true';
  fake = Object.assign(server, state, { urlWithPassword });
  return fake;
}

/** The URL with this password (and user postgres); trust authentication ignores it. */
export function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.username = u.username || 'postgres';
  u.password = password;
  return u.toString();
}
