/**
 * API keys: names, scopes, hashed or plain, and a ring that can be replaced while serving (SIGHUP).
 *
 * A key entry (in `--api-keys`, comma-separated, or one per line in `--api-keys-file`) is one of
 *   `<key>`                         legacy form: every scope, named `anonymous-<n>` (n = its position, from 1)
 *   `<name>:<scopes>:<key>`          a named key in plain text
 *   `<name>:<scopes>:sha256:<hex>`   a named key given by the SHA-256 of the key (64 hex digits), so the
 *                                    configuration does not hold the key itself: `printf %s "$KEY" | sha256sum`
 * `<name>` is 1-64 of `A-Za-z0-9._-`; `<scopes>` is `+`-separated: `enqueue`, `read`, `admin` (admin
 * implies the others). Several entries may share a name (rotation: old and new key side by side).
 * An entry that holds a colon is always read as a named entry, so a typo in its scopes is refused
 * rather than taken for an all-powerful legacy key.
 *
 * Messages about an entry name its position and name, never the key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const SCOPES = ['enqueue', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  /** Logged on each request; never the key. */
  name: string;
  scopes: ReadonlySet<Scope>;
  /** SHA-256 of the key. */
  digest: Buffer;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const TOKEN = /^[\x21-\x7E]+$/;
const HASHED = /^sha256:([0-9a-fA-F]{64})$/;

export const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Does a key with these scopes grant `needed`? `admin` grants everything. */
export function grants(scopes: ReadonlySet<Scope>, needed: Scope): boolean {
  return scopes.has('admin') || scopes.has(needed);
}

/** One entry → an ApiKey; `position` (from 1) names legacy keys and errors. Throws with a message free of key material. */
export function parseKeyEntry(entry: string, position: number): ApiKey {
  const text = entry.trim();
  const first = text.indexOf(':');
  if (first < 0) {
    if (!TOKEN.test(text)) throw new Error(`API key ${position}: a key is 1 or more printable ASCII characters without spaces`);
    return { name: `anonymous-${position}`, scopes: new Set(SCOPES), digest: sha256(text) };
  }
  const second = text.indexOf(':', first + 1);
  const name = text.slice(0, first);
  if (!NAME.test(name)) throw new Error(`API key ${position}: the name before the first ":" must be 1-64 of A-Za-z0-9._- (the form is name:scopes:key)`);
  if (second < 0) throw new Error(`API key ${position} ("${name}"): the form is name:scopes:key or name:scopes:sha256:<hex>`);
  const scopes = new Set<Scope>();
  for (const scope of text.slice(first + 1, second).split('+')) {
    if (!(SCOPES as readonly string[]).includes(scope)) {
      throw new Error(`API key ${position} ("${name}"): unknown scope "${scope.slice(0, 32)}"; scopes are ${SCOPES.join(', ')}, joined by "+"`);
    }
    scopes.add(scope as Scope);
  }
  const secret = text.slice(second + 1);
  const hashed = HASHED.exec(secret);
  if (hashed) return { name, scopes, digest: Buffer.from(hashed[1]!, 'hex') };
  if (secret.startsWith('sha256:')) throw new Error(`API key ${position} ("${name}"): sha256: must be followed by 64 hex digits`);
  if (!TOKEN.test(secret)) throw new Error(`API key ${position} ("${name}"): a key is 1 or more printable ASCII characters without spaces`);
  return { name, scopes, digest: sha256(secret) };
}

/** Entries of a keys file: one per line; blank lines and lines starting with # are skipped. */
export function keyFileEntries(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * Every key the configuration names: the `--api-keys` entries, then the entries of `--api-keys-file`
 * (read now). A keys file that cannot be read, or holds no key, is an error: it would otherwise
 * leave the API without keys, that is open.
 */
export function loadApiKeys(config: { apiKeys: readonly string[]; apiKeysFile?: string | undefined }): ApiKey[] {
  const entries = [...config.apiKeys];
  if (config.apiKeysFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.apiKeysFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the API keys file ${config.apiKeysFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const fromFile = keyFileEntries(text);
    if (fromFile.length === 0) throw new Error(`the API keys file ${config.apiKeysFile} holds no key`);
    entries.push(...fromFile);
  }
  return entries.map((e, i) => parseKeyEntry(e, i + 1));
}

/**
 * The keys in force. `authenticate` hashes the token and compares it with every key's digest in
 * constant time (equal lengths, no early exit), so timing says nothing about which bytes matched.
 * `replace` swaps the whole set at once: a request sees the old set or the new one, never a mix.
 */
export class KeyRing {
  #keys: readonly ApiKey[];

  constructor(keys: readonly ApiKey[]) {
    this.#keys = keys;
  }

  get size(): number {
    return this.#keys.length;
  }

  names(): string[] {
    return [...new Set(this.#keys.map((k) => k.name))];
  }

  replace(keys: readonly ApiKey[]): void {
    if (keys.length === 0) throw new Error('refusing to replace the API keys with none: that would open the API');
    this.#keys = keys;
  }

  /** The key this bearer token is, or undefined. */
  authenticate(token: string | undefined): ApiKey | undefined {
    const keys = this.#keys;
    const candidate = sha256(token ?? '');
    let found: ApiKey | undefined;
    for (const key of keys) {
      const same = timingSafeEqual(candidate, key.digest);
      found = same && found === undefined ? key : found;
    }
    return token === undefined ? undefined : found;
  }
}
