/**
 * resolv.conf for an internal-only sandbox (src/model/etc-files.ts renderResolvConf,
 * `internalOnly`): no upstream reached from the host's namespace, explicit --dns kept and
 * dialled from the sandbox's own namespace (audit finding H4; end to end in test/e2e/dns.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderResolvConf } from '../../src/model/etc-files.js';

const host = { nameservers: ['10.255.255.53', '127.0.0.53'], search: ['corp.example'], options: [] };

test('an internal-only sandbox without --dns has no upstream at all', () => {
  const r = renderResolvConf({ mode: 'internal', host, internalOnly: true });
  assert.deepEqual(r.upstreams, []);
  assert.match(r.text, /^nameserver 127\.0\.0\.11$/m);
  assert.match(r.text, /# ExtServers: \[\]/);
  assert.match(r.text, /^search corp\.example$/m, 'search domains are still the host\'s');
});

test('the same sandbox with a way out gets the host\'s servers, dialled from the host', () => {
  const r = renderResolvConf({ mode: 'internal', host });
  assert.deepEqual(r.upstreams, [{ address: '10.255.255.53', fromHost: true }, { address: '127.0.0.53', fromHost: true }]);
  assert.match(r.text, /# ExtServers: \[host\(10\.255\.255\.53\) host\(127\.0\.0\.53\)\]/);
});

test('explicit --dns stays for an internal-only sandbox, dialled from its own namespace', () => {
  const r = renderResolvConf({ mode: 'internal', host, internalOnly: true, dns: ['10.92.0.1'] });
  assert.deepEqual(r.upstreams, [{ address: '10.92.0.1', fromHost: false }]);
  assert.match(r.text, /# ExtServers: \[10\.92\.0\.1\]/);
});
