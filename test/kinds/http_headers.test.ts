/**
 * The redirect header policy of the `http` kind as a pure function (http.test.ts drives it through real
 * servers; an https→http redirect needs a certificate the kind trusts, so the downgrade is tested here).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headersAfterRedirect } from '../../src/kinds/http_headers.ts';

const headers = { Authorization: 'a', 'X-Api-Key': 'k' };
const after = (from: string, to: string, keep?: string[]) => headersAfterRedirect(headers, new URL(from), new URL(to), keep);

describe('headersAfterRedirect', () => {
  it('keeps every header within one origin', () => {
    assert.deepEqual(after('https://a.example/x', 'https://a.example:443/y?z'), headers);
  });

  it('drops every header on a change of host, port or scheme', () => {
    for (const to of ['https://b.example/', 'https://a.example:8443/', 'http://a.example/', 'https://sub.a.example/']) {
      assert.deepEqual(after('https://a.example/', to), {}, to);
    }
    assert.deepEqual(after('http://a.example/', 'https://a.example/'), {}, 'an upgrade is another origin too');
  });

  it('keeps the listed headers across origins, case-insensitively', () => {
    assert.deepEqual(after('http://a.example/', 'https://a.example/', ['x-api-KEY']), { 'X-Api-Key': 'k' });
    assert.deepEqual(after('https://a.example/', 'https://b.example/', ['authorization', 'x-api-key']), headers);
  });

  it('keeps none, listed or not, from https to http', () => {
    assert.deepEqual(after('https://a.example/', 'http://a.example/', ['Authorization', 'X-Api-Key']), {});
    assert.deepEqual(after('https://a.example/', 'http://b.example/', ['X-Api-Key']), {});
  });
});
