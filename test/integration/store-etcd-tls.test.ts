/**
 * The etcd backend over TLS with client-certificate auth (what `--cluster-store-opt
 * kv.cacertfile=…,kv.certfile=…,kv.keyfile=…` will pass): a throwaway CA, a server and a
 * client certificate made with openssl, an etcd that requires a client certificate. The
 * store works with the right files; without the client certificate, or trusting another
 * CA, the connection is refused (the control: TLS is really enforced); unreadable files
 * are STORE_TLS_INVALID.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import type { WatchEvent } from '../../src/store/contract.js';
import { etcdPerFile } from '../helpers/etcd.js';
import { makeTestPki, type TestPki } from '../helpers/test-pki.js';
import { waitFor } from '../helpers/netns.js';

let pki: TestPki;
let other: TestPki;
let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-etcd-pki-'));
  pki = makeTestPki(path.join(dir, 'good'));
  other = makeTestPki(path.join(dir, 'other'));
});
// Registered after the hook above: starts once the PKI exists, stops before it is removed.
const etcd = etcdPerFile(() => ({ tls: pki }));
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const PREFIX = `/swy-tls-${process.pid}`;

test('etcd over TLS with a client certificate: KV, txn and watch work', async () => {
  assert.match(etcd().endpoints[0]!, /^https:\/\//);
  const tls = { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile };
  const a = await openEtcdStore({ endpoints: etcd().endpoints, prefix: PREFIX, tls });
  const b = await openEtcdStore({ endpoints: etcd().endpoints, prefix: PREFIX, tls });
  try {
    const seen: WatchEvent[][] = [];
    const w = await b.watch('/k/', {}, (events) => seen.push(events));
    const res = await a.txn({
      compare: [{ key: '/k/ip', target: 'createRevision', op: '=', value: 0 }],
      success: [{ type: 'put', key: '/k/ip', value: 'ep1' }],
    });
    assert.equal(res.succeeded, true);
    assert.equal((await b.get('/k/ip'))!.value, 'ep1');
    await waitFor(() => seen.length === 1, 'the watch event over TLS');
    assert.equal(seen[0]![0]!.kv.modRevision, res.revision);
    await w.close();
    await a.deletePrefix('/');
  } finally {
    await a.close();
    await b.close();
  }
});

test('etcd over TLS: no client certificate, or another CA, is refused', async () => {
  const refused = async (tls: { caFile: string; certFile?: string; keyFile?: string } | undefined, what: string) => {
    await assert.rejects(openEtcdStore({ endpoints: etcd().endpoints, prefix: PREFIX, tls, requestTimeoutMs: 2_000 }), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, 'STORE_UNREACHABLE', `${what}: ${err.message}`);
      return true;
    }, what);
  };
  await refused({ caFile: pki.caFile }, 'no client certificate');
  await refused({ caFile: other.caFile, certFile: other.clientCertFile, keyFile: other.clientKeyFile }, 'another CA');
  await refused(undefined, 'system CAs only');
  await assert.rejects(
    openEtcdStore({ endpoints: etcd().endpoints, tls: { caFile: path.join(dir, 'missing.pem') } }),
    (err: { code?: string }) => err.code === 'STORE_TLS_INVALID',
  );
});
