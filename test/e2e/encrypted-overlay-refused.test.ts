/**
 * `network create -d overlay -o encrypted` through a real daemon on the cluster lab
 * (test/helpers/cluster-lab.ts), on this machine's kernel, which has xfrm netlink but no ESP
 * and no GCM (docs/drivers/overlay-encryption.md): the create fails with
 * OVERLAY_ENCRYPTION_UNSUPPORTED and a message naming what is missing, and nothing is made:
 * no network on any host, no key in etcd (read over etcd's own HTTP gateway from a host's
 * namespace: no network record, no name or VNI claim, no key ring), no xfrm object and no
 * `inet switchyard_esp` table in the host's namespace. Control: the same create without
 * `-o encrypted` succeeds and its keys appear (so the etcd read sees what a create writes).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startClusterLab, type ClusterLab } from '../helpers/cluster-lab.js';
import { inNs } from '../helpers/netns.js';

let lab: ClusterLab;
before(async () => {
  lab = await startClusterLab({ hosts: 2 });
});
after(async () => {
  await lab?.close();
});

/** Every key in etcd (all prefixes), read from host 0's namespace over the v3 HTTP gateway. */
function etcdKeys(): string[] {
  const url = `${lab.etcd.endpoints[0]}/v3/kv/range`;
  const r = inNs(lab.hosts[0]!.ns.name, 'curl', ['-sS', '--max-time', '5', '-X', 'POST', url, '-d', JSON.stringify({ key: 'AA==', range_end: 'AA==', keys_only: true })]);
  const body = JSON.parse(r.stdout) as { kvs?: { key: string }[] };
  return (body.kvs ?? []).map((kv) => Buffer.from(kv.key, 'base64').toString());
}

const probeUnsupported = (): boolean => {
  // This machine's kernel: `ip xfrm state add … aead rfc4106(gcm(aes))` is refused.
  const r = inNs(lab.hosts[0]!.ns.name, 'ip', ['xfrm', 'state', 'add', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'proto', 'esp', 'spi', '0x100', 'reqid', '1', 'mode', 'transport', 'aead', 'rfc4106(gcm(aes))', '0x' + '11'.repeat(20), '128'], { allowFail: true });
  if (r.status === 0) inNs(lab.hosts[0]!.ns.name, 'ip', ['xfrm', 'state', 'flush'], { allowFail: true });
  return r.status !== 0;
};

test('-o encrypted on a kernel without ESP/GCM: OVERLAY_ENCRYPTION_UNSUPPORTED, and nothing anywhere (no record, no claim, no key ring, no xfrm, no table)', async (t) => {
  if (!probeUnsupported()) {
    t.skip('this kernel has ESP with GCM: the refusal path cannot be shown here (the VM lane covers encryption)');
    return;
  }
  const before = etcdKeys();
  const r = lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', '-o', 'encrypted', 'enc1'], { allowFail: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /encrypted needs kernel support this host lacks/);
  assert.match(r.stderr, /ESP/);
  assert.match(r.stderr, /rfc4106\(gcm\(aes\)\)/);
  const after = etcdKeys();
  assert.deepEqual(after, before, 'no key written to etcd');
  assert.ok(!after.some((k) => /\/overlay-keys\/|\/names\/enc1|\/claims\/overlay\//.test(k)));
  for (const i of [0, 1]) assert.equal(lab.cli(i, ['network', 'ls', '-q', '--filter', 'name=enc1']).stdout.trim(), '', `no network on host${i}`);
  const ns = lab.hosts[0]!.ns.name;
  assert.equal(inNs(ns, 'ip', ['xfrm', 'state', 'list']).stdout.trim(), '', 'no xfrm state');
  assert.equal(inNs(ns, 'ip', ['xfrm', 'policy', 'list']).stdout.trim(), '', 'no xfrm policy');
  assert.doesNotMatch(inNs(ns, 'nft', ['list', 'tables']).stdout, /switchyard_esp/);

  // Control: without -o encrypted the same create works and writes its keys (the read above sees writes).
  const id = lab.cli(0, ['network', 'create', '-d', 'overlay', '--attachable', 'enc1']).stdout.trim();
  const made = etcdKeys();
  assert.ok(made.some((k) => k.endsWith(`/networks/${id}`)), 'the network record is in etcd');
  assert.ok(made.some((k) => k.endsWith('/claims/overlay/vni/4096')), 'the VNI claim is in etcd: the refused create held none');
  assert.ok(!made.some((k) => k.includes('/overlay-keys/')), 'no key ring for an unencrypted network');
  const inspect = JSON.parse(lab.cli(1, ['network', 'inspect', 'enc1']).stdout) as { Options: Record<string, string> }[];
  assert.equal(inspect[0]!.Options['com.docker.network.driver.overlay.vxlanid_list'], '4096');
  lab.cli(0, ['network', 'rm', 'enc1']);
});
