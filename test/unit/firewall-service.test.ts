/**
 * The Firewall service's decisions, against a fake nftables port that records the
 * transactions it is given. Rule text itself is covered by firewall-ruleset.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError, internal } from '../../src/errors.js';
import { Firewall, type NftPort } from '../../src/services/firewall/firewall.js';
import { NoFirewall } from '../../src/services/firewall/no-firewall.js';
import type { NftListing } from '../../src/services/firewall/observed.js';

const net = { bridge: 'br-a', subnets: ['10.1.0.0/24'], icc: true, masquerade: true, internal: false };

/** A fake kernel: `table` says whether our table exists; `fail` makes the next run() fail. */
class FakeNft implements NftPort {
  runs: string[] = [];
  lists: string[] = [];
  table = true;
  failNext = 0;
  bridges: string[] = [];
  run(commands: string): string {
    this.runs.push(commands);
    if (this.failNext > 0) {
      this.failNext--;
      throw internal('NFT_FAILED', 'Error: No such file or directory');
    }
    return '';
  }
  listJson(what: string): NftListing {
    this.lists.push(what);
    if (what === 'tables') return { nftables: this.table ? [{ table: { family: 'inet', name: 'switchyard' } }] : [] };
    if (what === 'set inet switchyard bridges') return { nftables: [{ set: { family: 'inet', table: 'switchyard', name: 'bridges', elem: this.bridges } }] };
    if (what.startsWith('set ') || what.startsWith('map ')) throw internal('NFT_FAILED', 'Error: No such file or directory');
    return { nftables: [] };
  }
}

test('disabled (NoFirewall, the daemon\'s pick for --firewall=false): every method is a no-op, nothing is ever missing', () => {
  // NoFirewall takes no nftables handle at all, so none can be opened.
  const fw = new NoFirewall();
  assert.equal(fw.enabled, false);
  fw.ensureBase();
  fw.ensureNetwork(net);
  fw.deleteNetwork('br-a');
  fw.reload([net]);
  fw.allowEndpointSources({ port: 'syva', mac: '02:42:0a:00:00:05' });
  fw.addPorts([{ family: 4, hostIp: '', proto: 'tcp', hostPort: 80, containerIp: '10.1.0.2', containerPort: 80 }]);
  fw.guardForwarding(4);
  assert.deepEqual(fw.removeStalePorts([]), { ports: [], published: [] });
  assert.equal(fw.complete(), true);
});

test('the factory is called once, lazily', () => {
  let opened = 0;
  const fake = new FakeNft();
  const fw = new Firewall(() => { opened++; return fake; });
  assert.equal(opened, 0);
  fw.ensureBase();
  fw.ensureNetwork(net);
  assert.equal(opened, 1);
  assert.equal(fake.runs.length, 2);
});

test('ensureNetwork is one transaction; when the table was deleted it is recreated with the base in one more', () => {
  const fake = new FakeNft();
  const fw = new Firewall(fake);
  fw.ensureNetwork(net);
  assert.equal(fake.runs.length, 1);
  assert.doesNotMatch(fake.runs[0]!, /add table/);

  fake.runs = [];
  fake.table = false;
  fake.failNext = 1;
  fw.ensureNetwork(net);
  assert.equal(fake.runs.length, 2);
  assert.match(fake.runs[1]!, /^add table inet switchyard\n[\s\S]*add element inet switchyard bridges \{ "br-a" \}/);
});

test('ensureNetwork failing while the table exists is reported, not retried', () => {
  const fake = new FakeNft();
  fake.failNext = 1;
  const fw = new Firewall(fake);
  assert.throws(() => fw.ensureNetwork(net), (e: unknown) => e instanceof SwitchyardError && e.code === 'NFT_FAILED');
  assert.equal(fake.runs.length, 1);
});

test('deleteNetwork: no table means nothing to delete (success); other failures are reported', () => {
  const fake = new FakeNft();
  const fw = new Firewall(fake);
  fake.table = false;
  fake.failNext = 1;
  fw.deleteNetwork('br-a');
  fake.table = true;
  fake.failNext = 1;
  assert.throws(() => fw.deleteNetwork('br-a'), /No such file/);
});

test('invalid input is refused before anything is run', () => {
  const fake = new FakeNft();
  const fw = new Firewall(fake);
  assert.throws(() => fw.ensureNetwork({ ...net, bridge: 'br"; flush ruleset' }), { code: 'FIREWALL_INVALID_BRIDGE' });
  assert.throws(() => fw.reload([net, { ...net, bridge: 'x y' }]), (e: unknown) => e instanceof SwitchyardError && e.field === 'networks[1].bridge');
  assert.equal(fake.runs.length, 0);
});

test('reload: one transaction = base + emptied memberships + stale networks removed + wanted networks', () => {
  const fake = new FakeNft();
  fake.bridges = ['br-a', 'br-old'];
  const fw = new Firewall(fake);
  fw.reload([net]);
  assert.equal(fake.runs.length, 1);
  const text = fake.runs[0]!;
  const at = (s: string): number => text.indexOf(s);
  assert.ok(at('add table inet switchyard') === 0);
  assert.ok(at('flush set inet switchyard bridges') > 0);
  assert.ok(at('delete chain inet switchyard post-br-old') > at('flush set inet switchyard bridges'));
  assert.ok(at('add element inet switchyard bridges { "br-a" }') > at('delete chain inet switchyard post-br-old'));
  assert.doesNotMatch(text, /delete chain inet switchyard post-br-a\b/);
  assert.doesNotMatch(text, /flush chain inet switchyard user|flush set inet switchyard published|flush map/);
});

test('reload with no table: nothing is listed beyond `list tables`, everything is created', () => {
  const fake = new FakeNft();
  fake.table = false;
  const fw = new Firewall(fake);
  fw.reload([net]);
  assert.deepEqual(fake.lists, ['tables']);
  assert.match(fake.runs[0]!, /add chain inet switchyard user\n/);
});

test('the forwarding guard: one rule per family the daemon turned on, kept across ensureBase and reload, read back from the table at start', () => {
  const fake = new FakeNft();
  const fw = new Firewall(fake);
  fw.ensureBase();
  // The table holds no guard (none read back): the chain stays empty.
  assert.match(fake.runs[0]!, /flush chain inet switchyard not-a-router\nadd chain inet switchyard /);
  assert.ok(fake.lists.includes('chain inet switchyard not-a-router'), 'read back first');
  fw.guardForwarding(4);
  assert.match(fake.runs.at(-1)!, /flush chain inet switchyard not-a-router\nadd rule inet switchyard not-a-router meta nfproto ipv4 drop comment "NOT A ROUTER"\n/);
  const runs = fake.runs.length;
  fw.guardForwarding(4);
  assert.equal(fake.runs.length, runs, 'once per family');
  fw.guardForwarding(6);
  fw.reload([net]);
  assert.match(fake.runs.at(-1)!, /meta nfproto ipv4 drop[^\n]*\nadd rule inet switchyard not-a-router meta nfproto ipv6 drop/);

  // A restarted daemon finds forwarding already on (it turned it on before): the guard it left is read back.
  class Guarded extends FakeNft {
    override listJson(what: string): NftListing {
      if (what === 'chain inet switchyard not-a-router') {
        return { nftables: [{ rule: { family: 'inet', table: 'switchyard', chain: 'not-a-router', expr: [{ match: { op: '==', left: { meta: { key: 'nfproto' } }, right: 'ipv6' } }, { drop: null }] } }] };
      }
      return super.listJson(what);
    }
  }
  const again = new Guarded();
  const fw2 = new Firewall(again);
  fw2.ensureBase();
  assert.match(again.runs[0]!, /flush chain inet switchyard not-a-router\nadd rule inet switchyard not-a-router meta nfproto ipv6 drop/);
  assert.doesNotMatch(again.runs[0]!, /nfproto ipv4/);
});

test('removeStalePorts: elements no wanted binding explains are deleted in one transaction, the wanted ones kept', () => {
  class Listing extends FakeNft {
    override listJson(what: string): NftListing {
      const t = { family: 'inet', table: 'switchyard' };
      if (what === 'map inet switchyard dnat4-any') {
        return { nftables: [{ map: { ...t, name: 'dnat4-any', elem: [
          [{ concat: ['tcp', 8080] }, { concat: ['10.1.0.2', 80] }],
          [{ concat: ['tcp', 9090] }, { concat: ['10.1.0.9', 90] }],
        ] } }] };
      }
      if (what === 'set inet switchyard published4') {
        return { nftables: [{ set: { ...t, name: 'published4', elem: [{ concat: ['10.1.0.2', 'tcp', 80] }, { concat: ['10.1.0.9', 'tcp', 90] }] } }] };
      }
      if (what.startsWith('map ') || what.startsWith('set ')) return { nftables: [] };
      return super.listJson(what);
    }
  }
  const fake = new Listing();
  const fw = new Firewall(fake);
  const stale = fw.removeStalePorts([{ family: 4, hostIp: '', proto: 'tcp', hostPort: 8080, containerIp: '10.1.0.2', containerPort: 80 }]);
  assert.deepEqual(stale, {
    ports: [{ family: 4, hostIp: '', proto: 'tcp', hostPort: 9090, containerIp: '10.1.0.9', containerPort: 90 }],
    published: [{ family: 4, containerIp: '10.1.0.9', proto: 'tcp', containerPort: 90 }],
  });
  assert.equal(fake.runs.length, 1);
  assert.match(fake.runs[0]!, /delete element inet switchyard dnat4-any \{ tcp \. 9090 \}/);
  assert.match(fake.runs[0]!, /delete element inet switchyard published4 \{ 10\.1\.0\.9 \. tcp \. 90 \}/);
  assert.doesNotMatch(fake.runs[0]!, /8080|10\.1\.0\.2/);
  // Nothing stale: nothing run.
  fake.runs = [];
  fw.removeStalePorts([
    { family: 4, hostIp: '', proto: 'tcp', hostPort: 8080, containerIp: '10.1.0.2', containerPort: 80 },
    { family: 4, hostIp: '', proto: 'tcp', hostPort: 9090, containerIp: '10.1.0.9', containerPort: 90 },
  ]);
  assert.equal(fake.runs.length, 0);
});
