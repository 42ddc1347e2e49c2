/**
 * Tests of the SSRF guard: the address table, literal-IP URL checks (including odd IPv4 spellings the
 * URL parser normalises) and the guarded lookup, in both its single-address and `all` forms.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { describe, it } from 'node:test';
import { checkUrlHost, createGuardedLookup, isForbiddenAddress, SSRF_BLOCKED } from '../../src/kinds/ssrf.ts';

const FORBIDDEN = [
  // IPv4
  '0.0.0.0', '0.1.2.3', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.254', '127.0.0.1', '127.1.2.3',
  '169.254.0.1', '169.254.169.254', '172.16.0.1', '172.31.255.255', '192.0.0.8', '192.0.2.1', '192.168.0.1',
  '192.168.255.255', '198.18.0.1', '198.19.255.255', '198.51.100.7', '203.0.113.9', '224.0.0.1', '239.255.255.250',
  '240.0.0.1', '255.255.255.255',
  // IPv6
  '::', '::1', '0:0:0:0:0:0:0:1', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'fc00::1', 'fd12:3456::1', 'fd00:ec2::254',
  'ff02::1', 'ff05::1:3', '2001:db8::1', '100::1', '2001::1', '64:ff9b:1::1', '::127.0.0.1',
  // IPv4 embedded in IPv6
  '::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:169.254.169.254', '::ffff:10.0.0.1', '0:0:0:0:0:ffff:c0a8:101',
  '::ffff:0:127.0.0.1', '::ffff:0:a9fe:a9fe', '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b::10.1.2.3',
  '2002:7f00:1::', '2002:a9fe:a9fe::1', '2002:c0a8:0101::1', '[::1]',
  // not an IP at all
  'localhost', 'example.com', '', '1.2.3', '::ffff:999.1.1.1',
];

const ALLOWED = [
  '8.8.8.8', '1.1.1.1', '9.9.9.9', '93.184.216.34', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1',
  '169.253.255.255', '192.167.1.1', '198.17.255.255', '198.20.0.1', '223.255.255.255', '11.0.0.1',
  '2606:4700:4700::1111', '2001:4860:4860::8888', '2a00:1450:4001:800::200e', '::ffff:8.8.8.8', '::ffff:0:8.8.8.8',
  '64:ff9b::8.8.8.8', '64:ff9b::101:101', '2002:808:808::1', '[2606:4700:4700::1111]',
];

describe('isForbiddenAddress', () => {
  for (const ip of FORBIDDEN) {
    it(`forbids ${JSON.stringify(ip)}`, () => assert.equal(isForbiddenAddress(ip), true));
  }
  for (const ip of ALLOWED) {
    it(`allows ${ip}`, () => assert.equal(isForbiddenAddress(ip), false));
  }
});

describe('checkUrlHost', () => {
  const blocked = (u: string, allow: string[] = []) =>
    assert.throws(() => checkUrlHost(new URL(u), allow), (e: NodeJS.ErrnoException) => e.code === SSRF_BLOCKED, u);
  const passes = (u: string, allow: string[] = []) => assert.doesNotThrow(() => checkUrlHost(new URL(u), allow), u);

  it('blocks literal forbidden IPs, including spellings the URL parser normalises', () => {
    for (const u of [
      'http://127.0.0.1/',
      'http://0x7f.1/',
      'http://2130706433/',
      'http://017700000001/',
      'http://127.1:8080/x',
      'http://[::1]:80/',
      'http://[::ffff:127.0.0.1]/',
      'http://[0:0:0:0:0:ffff:a9fe:a9fe]/',
      'http://169.254.169.254/latest/meta-data/',
      'https://[fd00:ec2::254]/',
      'http://0.0.0.0:3000/',
    ]) {
      blocked(u);
    }
  });

  it('lets public literal IPs and host names through (names are the lookup guard’s job)', () => {
    passes('http://8.8.8.8/');
    passes('https://[2606:4700:4700::1111]/');
    passes('http://localhost/');
    passes('http://example.com/');
  });

  it('honours allowHosts, exact match only, with IPv6 written either way', () => {
    passes('http://127.0.0.1:9/', ['127.0.0.1']);
    passes('http://0x7f.0.0.1/', ['127.0.0.1']);
    passes('http://[::1]/', ['[::1]']);
    passes('http://[0::1]/', ['::1']);
    blocked('http://127.0.0.2/', ['127.0.0.1']);
    blocked('http://[::1]/', ['127.0.0.1']);
  });
});

type Lookup = (host: string, options: object, cb: (...args: unknown[]) => void) => void;

function callLookup(lookup: Lookup, host: string, options: object) {
  return new Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family: unknown }>((resolve) => {
    lookup(host, options, (err, address, family) => resolve({ err: err as NodeJS.ErrnoException | null, address, family }));
  });
}

describe('createGuardedLookup', () => {
  it('refuses a name that resolves to a forbidden address, in both callback forms', async () => {
    const lookup = createGuardedLookup([]) as unknown as Lookup;
    const one = await callLookup(lookup, 'localhost', {});
    assert.equal(one.err?.code, SSRF_BLOCKED);
    assert.match(one.err?.message ?? '', /localhost resolves to .* not allowed/);
    const all = await callLookup(lookup, 'localhost', { all: true });
    assert.equal(all.err?.code, SSRF_BLOCKED);
  });

  it('refuses literal forbidden IPs passed to it', async () => {
    const lookup = createGuardedLookup([]) as unknown as Lookup;
    assert.equal((await callLookup(lookup, '127.0.0.1', {})).err?.code, SSRF_BLOCKED);
    assert.equal((await callLookup(lookup, '::1', { family: 6 })).err?.code, SSRF_BLOCKED);
  });

  it('resolves allowed names, case-insensitively, returning the shape asked for', async () => {
    const lookup = createGuardedLookup(['LocalHost']) as unknown as Lookup;
    const one = await callLookup(lookup, 'localhost', { family: 4 });
    assert.equal(one.err, null);
    assert.equal(one.address, '127.0.0.1');
    assert.equal(one.family, 4);
    const all = await callLookup(lookup, 'LOCALHOST', { all: true, family: 4 });
    assert.equal(all.err, null);
    assert.deepEqual(all.address as LookupAddress[], [{ address: '127.0.0.1', family: 4 }]);
  });

  it('accepts the (hostname, callback) form', async () => {
    const lookup = createGuardedLookup(['127.0.0.1']) as unknown as (h: string, cb: (...a: unknown[]) => void) => void;
    const address = await new Promise((resolve, reject) => lookup('127.0.0.1', (err, a) => (err ? reject(err) : resolve(a))));
    assert.equal(address, '127.0.0.1');
  });

  it('allowing an IP does not allow a name that resolves to it', async () => {
    const lookup = createGuardedLookup(['127.0.0.1']) as unknown as Lookup;
    assert.equal((await callLookup(lookup, 'localhost', { family: 4 })).err?.code, SSRF_BLOCKED);
  });
});
