/**
 * SSRF guard for outbound HTTP from job handlers. `isForbiddenAddress` says whether an IP is one a
 * job must not reach (loopback, private, link-local/metadata, CGNAT, multicast, reserved, and IPv6
 * forms that embed such an IPv4). `createGuardedLookup` is a `lookup` for node:http(s) that checks
 * every address DNS returns, so the address checked is the address connected to (no rebinding
 * window). `checkUrlHost` covers literal-IP hosts, for which node:net never calls `lookup`.
 */
import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

export const SSRF_BLOCKED = 'ERR_SSRF_BLOCKED';

export class SsrfBlockedError extends Error {
  override readonly name = 'SsrfBlockedError';
  readonly code = SSRF_BLOCKED;
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(
      host === address
        ? `address ${address} is not allowed (SSRF guard)`
        : `host ${host} resolves to ${address}, which is not allowed (SSRF guard)`,
    );
  }
}

const V4_FORBIDDEN: [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, includes broadcast 255.255.255.255
];

const V6_FORBIDDEN: [string, number][] = [
  ['::', 96], // unspecified ::, loopback ::1, deprecated IPv4-compatible ::a.b.c.d
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo (embeds an obfuscated IPv4)
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
  ['fc00::', 7], // unique-local, includes AWS metadata fd00:ec2::254
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

const v4Block = new BlockList();
for (const [net, prefix] of V4_FORBIDDEN) v4Block.addSubnet(net, prefix, 'ipv4');
const v6Block = new BlockList();
for (const [net, prefix] of V6_FORBIDDEN) v6Block.addSubnet(net, prefix, 'ipv6');

/** Parses an IPv6 address (optionally with an embedded dotted quad) into eight 16-bit groups. */
function parseV6(ip: string): number[] | null {
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = text.slice(lastColon + 1);
    if (isIP(v4) !== 4) return null;
    const o = v4.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const group = (h: string) => (/^[0-9a-f]{1,4}$/.test(h) ? parseInt(h, 16) : NaN);
  const parse = (s: string) => (s === '' ? [] : s.split(':').map(group));
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const known = head.length + rest.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  const groups = [...head, ...new Array<number>(8 - known).fill(0), ...rest];
  return groups.every((g) => !Number.isNaN(g)) ? groups : null;
}

const v4From = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/** The IPv4 address an IPv6 address stands for or tunnels to, if any. */
function embeddedV4(g: number[]): string | null {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(5) && g5 === 0xffff) return v4From(g6, g7); // ::ffff:a.b.c.d (mapped)
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return v4From(g6, g7); // ::ffff:0:a.b.c.d (translated)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return v4From(g6, g7); // NAT64
  if (g0 === 0x2002) return v4From(g1, g2); // 6to4
  return null;
}

/** True when `ip` is an address a job must not connect to. Anything that is not an IP is forbidden. */
export function isForbiddenAddress(ip: string): boolean {
  const addr = stripBrackets(ip).replace(/%.*$/, ''); // drop an IPv6 zone id
  const family = isIP(addr);
  if (family === 4) return v4Block.check(addr, 'ipv4');
  if (family !== 6) return true;
  const groups = parseV6(addr.toLowerCase());
  if (!groups) return true;
  const canonical = groups.map((x) => x.toString(16)).join(':');
  if (v6Block.check(canonical, 'ipv6')) return true;
  const v4 = embeddedV4(groups);
  return v4 !== null && v4Block.check(v4, 'ipv4');
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Lower case, no brackets, IPv6 in the WHATWG URL's canonical form, so entries compare with `URL.hostname`. */
export function normalizeHost(host: string): string {
  const h = stripBrackets(host.trim()).toLowerCase();
  if (isIP(h) === 6) {
    try {
      return stripBrackets(new URL(`http://[${h}]/`).hostname);
    } catch {
      return h;
    }
  }
  return h;
}

function allowSet(allowHosts: string[]): Set<string> {
  return new Set(allowHosts.map(normalizeHost).filter((h) => h !== ''));
}

/**
 * Checks a URL whose host is a literal IP (node:net does not call `lookup` for those): throws a
 * SsrfBlockedError (code ERR_SSRF_BLOCKED) if it is forbidden and not in `allowHosts`. Host names
 * are left to the guarded lookup. Relies on WHATWG URL parsing, which already turned forms such as
 * `0x7f.1` or `2130706433` into `127.0.0.1`.
 */
export function checkUrlHost(url: URL, allowHosts: string[]): void {
  const host = normalizeHost(url.hostname);
  if (isIP(host) === 0) return;
  if (allowSet(allowHosts).has(host)) return;
  if (isForbiddenAddress(host)) throw new SsrfBlockedError(host, host);
}

type LookupOptions = dns.LookupOptions;
type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `http.request({ lookup })` / `net.connect`: resolves with dns.lookup and fails with
 * ERR_SSRF_BLOCKED when any address is forbidden, unless the host name itself is in `allowHosts`
 * (case-insensitive exact match). Supports both `options.all` forms and the (hostname, callback) form.
 */
export function createGuardedLookup(allowHosts: string[]): LookupFunction {
  const allowed = allowSet(allowHosts);
  function guardedLookup(hostname: string, options: LookupOptions | number | LookupCallback, cb?: LookupCallback) {
    const callback = (typeof options === 'function' ? options : cb) as LookupCallback;
    const opts: LookupOptions =
      typeof options === 'function' ? {} : typeof options === 'number' ? { family: options } : { ...options };
    const wantAll = opts.all === true;
    dns.lookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return callback(err, wantAll ? [] : '');
      if (!allowed.has(normalizeHost(hostname))) {
        const bad = addresses.find((a) => isForbiddenAddress(a.address));
        if (bad) return callback(new SsrfBlockedError(hostname, bad.address), wantAll ? [] : '');
      }
      if (wantAll) return callback(null, addresses);
      const first = addresses[0];
      if (!first) {
        const e: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        e.code = 'ENOTFOUND';
        return callback(e, '');
      }
      callback(null, first.address, first.family);
    });
  }
  return guardedLookup as unknown as LookupFunction;
}
