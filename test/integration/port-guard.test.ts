/**
 * The per-port egress check (ruleset/port-guard.ts, kernel/nft-port-chain.ts; docs/FIREWALL.md
 * "Per-port egress check (netdev family)") on the real kernel. A "sandbox" namespace holds
 * `eth1` (one end of a veth: fixed MAC, IPv4, IPv6, the EUI-64 link-local), a "peer"
 * namespace the other end, where a packet socket records every frame that arrives.
 * `table netdev switchyard` is loaded in the sandbox with libnftables (renderPortGuardBase),
 * the port's chain and elements with the byte path (NftElements.joinPortChain).
 *
 * Hand-made frames (test/helpers/frames.ts) sent from the sandbox on a packet socket: the
 * legitimate ones arrive; every forged frame the bridge table's check drops (forged MAC,
 * IPv4 source, ARP sender, ARP probe MAC, NA target, DAD target, IPv6 source, RA, 802.1Q tag,
 * unknown EtherType) is dropped here too, also sent with PACKET_QDISC_BYPASS. Two ways round a
 * bare `jump antispoof` that only the egress hook has (a bypassing socket that names a
 * protocol; an skb->protocol other than the EtherType) are dropped by the port chain, and
 * their control (the chain replaced by a bare jump) lets them through. Control of the whole
 * check: after the leave path (chain deleted) the forged IPv4 frame arrives. Leave twice is
 * success, join again works, a chain deleted from outside leaves only elements to delete, a
 * join on a missing device changes nothing. The fast path lets the port's own IPv4 and
 * non-ICMPv6 IPv6 frames out without the check (shown by a check that drops all, and its
 * control), and nothing else. The chain written as bytes lists expression by expression like
 * the one nft makes from renderPortGuardChain. Ends with a leak check. Root.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { SwitchyardError } from '../../src/errors.js';
import { Nft } from '../../src/kernel/nftables.js';
import { NftElements } from '../../src/kernel/nft-elements.js';
import { deletePortChainItem } from '../../src/kernel/nft-port-chain.js';
import { nftBatch } from '../../src/kernel/nfnetlink.js';
import { ENOENT, NetlinkError } from '../../src/kernel/netlink/message.js';
import { NETLINK_NETFILTER, NetlinkSocket } from '../../src/kernel/netlink/socket.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import {
  deletePortGuardOps, eui64LinkLocal, portGuardChainSpec, portGuardOps, renderPortGuardBase, renderPortGuardChain,
  type AntiSpoofEndpoint,
} from '../../src/services/firewall/ruleset.js';
import {
  arp, BROADCAST, dadProbe, ether, ETH, ipv4Udp, ipv6Udp, mld2Report, neighbourAdvert, neighbourSolicit, routerAdvert, sendRawFrames,
  type RawFrame,
} from '../helpers/frames.js';
import { assertNoLeaks, inNs, makeNs, removeNs, type TestNs } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const IF = 'eth1';
const ALL_NODES_MAC = '33:33:00:00:00:01';
const ep: AntiSpoofEndpoint & { ipv4: string; ipv6: string } = { port: IF, mac: '02:42:0a:00:00:02', ipv4: '10.0.0.2', ipv6: 'fd00::2' };
const LL = eui64LinkLocal(ep.mac); // fe80::42:aff:fe00:2
const PEER = { mac: '02:42:0a:00:00:03', ipv4: '10.0.0.3', ipv6: 'fd00::3' };
const OTHER = { mac: '02:42:0a:00:00:09', ipv4: '10.0.0.9', ipv6: 'fd00::9' };
const chain = portGuardChainSpec(IF);

/** Prints every frame the peer's eth1 receives, as hex, one per line. */
const RECV = `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth1", 0))
print("ready", flush=True)
while True:
    p, a = s.recvfrom(65535)
    if a[2] != socket.PACKET_OUTGOING:
        print(p.hex(), flush=True)
`;

describe('per-port egress check (netdev family) against hand-made frames', () => {
  let sandbox: TestNs;
  let peer: TestNs;
  let nft: Nft;
  let el: NftElements;
  let rx: ChildProcess;
  let captured = '';
  const made: string[] = [];
  let seq = 0;

  before(async () => {
    await warmThreadpool();
    sandbox = makeNs('pgs');
    peer = makeNs('pgp');
    made.push(sandbox.name, peer.name);
    for (const ns of [sandbox, peer]) inNs(ns.name, 'sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    inNs(sandbox.name, 'ip', ['link', 'add', IF, 'type', 'veth', 'peer', 'name', IF, 'netns', peer.name]);
    inNs(sandbox.name, 'ip', ['link', 'set', IF, 'address', ep.mac, 'addrgenmode', 'eui64']);
    inNs(sandbox.name, 'ip', ['addr', 'add', `${ep.ipv4}/24`, 'dev', IF]);
    inNs(sandbox.name, 'ip', ['addr', 'add', `${ep.ipv6}/64`, 'dev', IF, 'nodad']);
    inNs(peer.name, 'ip', ['link', 'set', IF, 'address', PEER.mac]);
    inNs(peer.name, 'ip', ['addr', 'add', `${PEER.ipv4}/24`, 'dev', IF]);
    inNs(peer.name, 'ip', ['addr', 'add', `${PEER.ipv6}/64`, 'dev', IF, 'nodad']);
    for (const ns of [sandbox, peer]) inNs(ns.name, 'ip', ['link', 'set', IF, 'up']);
    await waitFor(() => inNs(sandbox.name, 'ip', ['-6', 'addr', 'show', 'dev', IF, 'scope', 'link']).stdout.includes(LL) || undefined, 'the EUI-64 link-local address');
    rx = spawn('nsenter', [`--net=${peer.path}`, '--', 'python3', '-u', '-c', RECV], { stdio: ['ignore', 'pipe', 'ignore'] });
    rx.stdout!.on('data', (d: Buffer) => (captured += d.toString()));
    await waitFor(() => captured.includes('ready') || undefined, 'the capture in the peer');
    nft = Nft.open(sandbox.path);
    nft.run(renderPortGuardBase());
    el = NftElements.open(sandbox.path);
    el.joinPortChain(chain, portGuardOps(ep));
  });

  after(() => {
    if (rx?.pid) rx.kill('SIGKILL');
    el?.close();
    nft?.close();
    for (const n of made) removeNs(n);
    assertNoLeaks(made);
  });

  /** A legitimate IPv4 datagram carrying a fresh marker: sent last in every probe, its arrival means every frame before it has been decided. */
  const sentinel = (): { frame: RawFrame; marker: string } => {
    const marker = `sentinel-${++seq}`;
    return { frame: { bytes: ether(PEER.mac, ep.mac, ETH.ip, ipv4Udp(ep.ipv4, PEER.ipv4, 9, Buffer.from(marker))) }, marker };
  };
  /**
   * Sends `frames` then a sentinel; once the sentinel arrived, which of them arrived? A frame
   * is known by its bytes after the Ethernet header (a receiver strips an 802.1Q tag).
   */
  const probe = async (frames: RawFrame[]): Promise<boolean[]> => {
    const from = captured.length;
    const s = sentinel();
    sendRawFrames(sandbox.name, IF, [...frames, s.frame]);
    const markerHex = Buffer.from(s.marker).toString('hex');
    await waitFor(() => captured.slice(from).includes(markerHex) || undefined, `${s.marker} at the peer`, 3000);
    const seen = captured.slice(from);
    return frames.map((f) => seen.includes(f.bytes.subarray(f.bytes.readUInt16BE(12) === ETH.vlan ? 18 : 14).toString('hex')));
  };
  const udp4 = (src: string, mac: string, text: string, o: Omit<RawFrame, 'bytes'> = {}): RawFrame => ({ bytes: ether(PEER.mac, mac, ETH.ip, ipv4Udp(src, PEER.ipv4, 9, Buffer.from(`${text}-${++seq}`))), ...o });
  const udp6 = (src: string, text: string): RawFrame => ({ bytes: ether(PEER.mac, ep.mac, ETH.ip6, ipv6Udp(src, PEER.ipv6, 9, Buffer.from(`${text}-${++seq}`))) });
  const v6 = (dstMac: string, packet: Buffer, o: Omit<RawFrame, 'bytes'> = {}): RawFrame => ({ bytes: ether(dstMac, ep.mac, ETH.ip6, packet), ...o });

  const legit = (): Record<string, RawFrame> => ({
    'IPv4 from its address': udp4(ep.ipv4, ep.mac, 'legit4'),
    'ARP request': { bytes: ether(BROADCAST, ep.mac, ETH.arp, arp(1, ep.mac, ep.ipv4, '00:00:00:00:00:00', PEER.ipv4)) },
    'ARP probe (RFC 5227)': { bytes: ether(BROADCAST, ep.mac, ETH.arp, arp(1, ep.mac, '0.0.0.0', '00:00:00:00:00:00', ep.ipv4)) },
    'IPv6 from its global address': udp6(ep.ipv6, 'legit6'),
    'IPv6 from its link-local address': udp6(LL, 'legit6ll'),
    'neighbour solicitation': v6(neighbourSolicit(ep.ipv6, PEER.ipv6, ep.mac).dstMac, neighbourSolicit(ep.ipv6, PEER.ipv6, ep.mac).packet),
    'neighbour advertisement for its own address': v6(ALL_NODES_MAC, neighbourAdvert(ep.ipv6, 'ff02::1', ep.ipv6, ep.mac)),
    'DAD probe for its own address': v6(dadProbe(ep.ipv6).dstMac, dadProbe(ep.ipv6).packet),
    'MLDv2 report from ::': v6(mld2Report().dstMac, mld2Report().packet),
  });
  const forged = (o: Omit<RawFrame, 'bytes'> = {}): Record<string, RawFrame> => ({
    'forged source MAC': udp4(ep.ipv4, OTHER.mac, 'mac', o),
    'forged IPv4 source': udp4(OTHER.ipv4, ep.mac, 'ip4', o),
    'ARP with another sender IP': { bytes: ether(BROADCAST, ep.mac, ETH.arp, arp(2, ep.mac, OTHER.ipv4, BROADCAST, OTHER.ipv4)), ...o },
    'ARP probe with another MAC': { bytes: ether(BROADCAST, ep.mac, ETH.arp, arp(1, OTHER.mac, '0.0.0.0', '00:00:00:00:00:00', OTHER.ipv4)), ...o },
    'NA for another target': v6(ALL_NODES_MAC, neighbourAdvert(ep.ipv6, 'ff02::1', OTHER.ipv6, ep.mac), o),
    'DAD probe for another target': v6(dadProbe(OTHER.ipv6).dstMac, dadProbe(OTHER.ipv6).packet, o),
    'forged IPv6 source': { ...udp6(OTHER.ipv6, 'ip6'), ...o },
    'router advertisement': v6(ALL_NODES_MAC, routerAdvert(LL, ep.mac), o),
    '802.1Q-tagged frame (VID 0)': { bytes: ether(PEER.mac, ep.mac, ETH.ip, ipv4Udp(ep.ipv4, PEER.ipv4, 9, Buffer.from(`tagged-${++seq}`)), { vid: 0 }), ...o },
    'unknown EtherType': { bytes: ether(PEER.mac, ep.mac, 0x88b5, Buffer.from(`covert-${++seq}`.padEnd(46, '.'))), ...o },
  });
  /** The frames that get round a bare `jump antispoof` on the egress hook (each checked by the port chain's guard). */
  const aroundBareJump = (): Record<string, RawFrame> => ({
    'forged IPv4 source, PACKET_QDISC_BYPASS, protocol named': udp4(OTHER.ipv4, ep.mac, 'bypass-named', { protocol: ETH.ip, bypass: true }),
    'forged source MAC, PACKET_QDISC_BYPASS, protocol named': udp4(ep.ipv4, OTHER.mac, 'bypass-mac', { protocol: ETH.ip, bypass: true }),
    'router advertisement sent as IPv4 (skb->protocol)': v6(ALL_NODES_MAC, routerAdvert(LL, ep.mac, 1700), { protocol: ETH.ip }),
    'NA for another target sent as ARP (skb->protocol)': v6(ALL_NODES_MAC, neighbourAdvert(LL, 'ff02::1', OTHER.ipv6, ep.mac), { protocol: ETH.arp }),
  });
  const arrivals = async (named: Record<string, RawFrame>): Promise<Record<string, boolean>> => {
    const names = Object.keys(named);
    const got = await probe(Object.values(named));
    return Object.fromEntries(names.map((n, i) => [n, got[i]!]));
  };
  const all = (names: string[], v: boolean) => Object.fromEntries(names.map((n) => [n, v]));
  const listChain = () => inNs(sandbox.name, 'nft', ['list', 'chain', 'netdev', 'switchyard', chain.chain], { allowFail: true });
  const elements = () => inNs(sandbox.name, 'nft', ['list', 'table', 'netdev', 'switchyard']).stdout;

  test('the table holds the port\'s elements and chain; the kernel\'s own traffic (ARP, ND, ping, ping6) flows', () => {
    const table = elements();
    assert.match(table, /"eth1" \. 02:42:0a:00:00:02 \. 10\.0\.0\.2/);
    assert.match(table, /"eth1" \. 02:42:0a:00:00:02 \. fe80::42:aff:fe00:2/);
    assert.match(table, /chain port-eth1 \{\n\s+type filter hook egress device "eth1" priority -300; policy accept;/);
    assert.ok(inNs(sandbox.name, 'ping', ['-c', '1', '-W', '2', PEER.ipv4], { allowFail: true }).status === 0, 'ping');
    assert.ok(inNs(sandbox.name, 'ping', ['-6', '-c', '1', '-W', '2', PEER.ipv6], { allowFail: true }).status === 0, 'ping6');
  });

  test('legitimate ARP, IPv4, IPv6, NS, NA, DAD and MLD frames arrive', async () => {
    const l = legit();
    assert.deepEqual(await arrivals(l), all(Object.keys(l), true));
  });

  test('every forged frame is dropped, also when sent with PACKET_QDISC_BYPASS', async () => {
    const f = forged();
    assert.deepEqual(await arrivals(f), all(Object.keys(f), false));
    const b = forged({ bypass: true });
    assert.deepEqual(await arrivals(b), all(Object.keys(b), false), 'PACKET_QDISC_BYPASS');
    const results = sendRawFrames(sandbox.name, IF, [forged()['forged IPv4 source']!]);
    assert.deepEqual(results, ['No buffer space available'], 'the egress drop is reported to the sender');
  });

  test('frames that get round a bare `jump antispoof` on the egress hook are dropped by the port chain (control: a bare jump lets them through)', async () => {
    const a = aroundBareJump();
    assert.deepEqual(await arrivals(a), all(Object.keys(a), false));
    // Control: the port chain as a bare jump (what the check alone gives on this hook).
    nft.run(`flush chain netdev switchyard ${chain.chain}\nadd rule netdev switchyard ${chain.chain} jump antispoof\n`);
    try {
      assert.deepEqual(await arrivals(aroundBareJump()), all(Object.keys(a), true), 'control: through a bare jump');
      assert.equal((await arrivals({ x: forged()['forged IPv4 source']! })).x, false, 'while the same forgery sent plainly is dropped by the check');
    } finally {
      el.joinPortChain(chain, portGuardOps(ep)); // join again: the chain's rules are replaced, not added to
    }
    assert.deepEqual(await arrivals(aroundBareJump()), all(Object.keys(a), false), 'after joining again');
    assert.equal((listChain().stdout.match(/goto antispoof/g) ?? []).length, 3, 'one rule per EtherType, not stacked');
  });

  test('the fast path: the port\'s own IPv4 and non-ICMPv6 IPv6 frames leave without the check, nothing else does (control: without the fast rules the check sees them)', async () => {
    // The check is made to drop what it would let through: UDP to port 7, and neighbour
    // solicitations. Each probe's sentinel (UDP to port 9) still goes through the check.
    const udp4To7 = (src: string, mac: string, text: string, o: Omit<RawFrame, 'bytes'> = {}): RawFrame => ({ bytes: ether(PEER.mac, mac, ETH.ip, ipv4Udp(src, PEER.ipv4, 7, Buffer.from(`${text}-${++seq}`))), ...o });
    const udp6To7 = (src: string, text: string): RawFrame => ({ bytes: ether(PEER.mac, ep.mac, ETH.ip6, ipv6Udp(src, PEER.ipv6, 7, Buffer.from(`${text}-${++seq}`))) });
    const own = (): Record<string, RawFrame> => ({
      'IPv4 from its address': udp4To7(ep.ipv4, ep.mac, 'fast4'),
      'IPv6 from its global address': udp6To7(ep.ipv6, 'fast6'),
      'IPv6 from its link-local address': udp6To7(LL, 'fast6ll'),
    });
    const rest = (): Record<string, RawFrame> => ({
      'neighbour solicitation (ICMPv6: always the check)': legit()['neighbour solicitation']!,
      'forged IPv4 source': udp4To7(OTHER.ipv4, ep.mac, 'f4'),
      'forged source MAC': udp4To7(ep.ipv4, OTHER.mac, 'fmac'),
      'forged IPv6 source': udp6To7(OTHER.ipv6, 'f6'),
      'own IPv4, PACKET_QDISC_BYPASS, protocol named (no link-layer offset)': udp4To7(ep.ipv4, ep.mac, 'fbypass', { protocol: ETH.ip, bypass: true }),
      ...aroundBareJump(),
    });
    nft.run('insert rule netdev switchyard antispoof udp dport 7 drop comment "TEST"\ninsert rule netdev switchyard antispoof icmpv6 type nd-neighbor-solicit drop comment "TEST"\n');
    try {
      const o = own();
      const r = rest();
      assert.deepEqual(await arrivals({ ...o, ...r }), { ...all(Object.keys(o), true), ...all(Object.keys(r), false) });
      // Control: the port chain without its two accept rules (gotos and drop only).
      nft.run(`flush chain netdev switchyard ${chain.chain}\n${['arp', 'ip', 'ip6'].map((t) => `add rule netdev switchyard ${chain.chain} meta protocol ${t} ether type ${t} goto antispoof\n`).join('')}add rule netdev switchyard ${chain.chain} drop\n`);
      const o2 = own();
      assert.deepEqual(await arrivals(o2), all(Object.keys(o2), false), 'control: through the check, which drops them');
    } finally {
      nft.run(renderPortGuardBase()); // the check flushed and filled again
      el.joinPortChain(chain, portGuardOps(ep));
    }
    const o3 = own();
    assert.deepEqual(await arrivals(o3), all(Object.keys(o3), true), 'with the check as it is, they leave');
    const l = legit();
    assert.deepEqual(await arrivals(l), all(Object.keys(l), true), 'every legitimate frame again');
    assert.equal((listChain().stdout.match(/ accept$/gm) ?? []).length, 2, 'two accept rules, not stacked');
  });

  test('the chain written as bytes is, expression by expression, what nft makes of renderPortGuardChain', () => {
    const t = makeNs('pgt');
    made.push(t.name);
    inNs(t.name, 'ip', ['link', 'add', IF, 'type', 'veth', 'peer', 'name', 'eth2']);
    const text = Nft.open(t.path);
    try {
      text.run(renderPortGuardBase() + renderPortGuardChain(IF));
    } finally {
      text.close();
    }
    const exprs = (ns: string) => inNs(ns, 'nft', ['--debug=netlink', 'list', 'chain', 'netdev', 'switchyard', chain.chain]).stdout
      .split('\n').filter((l) => /^\s+(\[|userdata)/.test(l)).join('\n');
    const listing = (ns: string) => inNs(ns, 'nft', ['list', 'chain', 'netdev', 'switchyard', chain.chain]).stdout;
    assert.match(exprs(t.name), /goto -> antispoof/);
    assert.equal(exprs(sandbox.name), exprs(t.name));
    assert.equal(listing(sandbox.name), listing(t.name));
    removeNs(t);
  });

  test('control: after the leave path (chain deleted) the forged IPv4 frame, and every other forgery, arrives; leave again is success; join again drops it', async () => {
    el.leavePortChain(chain, deletePortGuardOps(ep));
    assert.notEqual(listChain().status, 0, 'the chain is gone');
    assert.doesNotMatch(elements(), /"eth1"/, 'and every element of the port');
    assert.equal((await arrivals({ x: forged()['forged IPv4 source']! })).x, true, 'control: arrives');
    // Every probe of the tests above can fail: without the chain, each forged frame arrives.
    const f = { ...forged(), ...aroundBareJump() };
    assert.deepEqual(await arrivals(f), all(Object.keys(f), true), 'control: all forgeries arrive without the chain');
    el.leavePortChain(chain, deletePortGuardOps(ep)); // twice: success
    el.joinPortChain(chain, portGuardOps(ep));
    assert.equal((await arrivals({ x: forged()['forged IPv4 source']! })).x, false, 'dropped again');
    assert.equal((await arrivals({ x: legit()['IPv4 from its address']! })).x, true, 'legitimate traffic flows again');
  });

  test('DELCHAIN of a missing chain is ENOENT; leave treats it (and a missing table) as success and still deletes the elements', () => {
    const sock = NetlinkSocket.open(sandbox.path, NETLINK_NETFILTER);
    try {
      const missing = portGuardChainSpec('eth9');
      assert.throws(() => sock.requestBatch(nftBatch([deletePortChainItem(missing)])), (e: unknown) => e instanceof NetlinkError && e.errno === ENOENT);
    } finally {
      sock.close();
    }
    // The chain deleted from outside, the elements still there: leave removes them.
    inNs(sandbox.name, 'nft', ['delete', 'chain', 'netdev', 'switchyard', chain.chain]);
    assert.match(elements(), /"eth1"/);
    el.leavePortChain(chain, deletePortGuardOps(ep));
    assert.doesNotMatch(elements(), /"eth1"/);
    // No table at all: success too.
    inNs(sandbox.name, 'nft', ['delete', 'table', 'netdev', 'switchyard']);
    el.leavePortChain(chain, deletePortGuardOps(ep));
    nft.run(renderPortGuardBase());
    el.joinPortChain(chain, portGuardOps(ep));
    assert.match(listChain().stdout, /drop comment "UNCHECKABLE"/);
  });

  test('a join that fails is one failed transaction: NFT_FAILED, no chain, no element', () => {
    const other = { ...ep, port: 'eth1x' };
    const bad = { ...portGuardChainSpec('eth1x'), target: 'nosuch' }; // the goto names a chain that is not there
    assert.throws(() => el.joinPortChain(bad, portGuardOps(other)), (e: unknown) => e instanceof SwitchyardError && e.code === 'NFT_FAILED' && /ENOENT/.test(e.message));
    assert.doesNotMatch(elements(), /"eth1x"|port-eth1x/);
    assert.match(elements(), /"eth1"/, 'the joined port is untouched');
  });

  test('a device that is not there yet: refused (older kernels) or hooked when it appears (this one)', () => {
    const late = { port: 'eth7', mac: '02:42:0a:00:00:07', ipv4: '10.0.7.2' };
    let accepted = true;
    try {
      el.joinPortChain(portGuardChainSpec(late.port), portGuardOps(late));
    } catch (err) {
      accepted = false;
      assert.ok(err instanceof SwitchyardError && err.code === 'NFT_FAILED', String(err));
      assert.doesNotMatch(elements(), /"eth7"/, 'refused as a whole');
    }
    if (!accepted) return;
    inNs(sandbox.name, 'ip', ['link', 'add', late.port, 'address', late.mac, 'type', 'veth', 'peer', 'name', 'eth8']);
    try {
      for (const d of [late.port, 'eth8']) inNs(sandbox.name, 'ip', ['link', 'set', d, 'up']);
      const frame = (src: string) => ({ bytes: ether(BROADCAST, late.mac, ETH.ip, ipv4Udp(src, '10.0.7.3', 9, Buffer.from('late'))) });
      assert.deepEqual(sendRawFrames(sandbox.name, late.port, [frame(late.ipv4), frame(OTHER.ipv4)]), ['sent', 'No buffer space available'], 'its own source passes, a forged one is dropped');
      el.leavePortChain(portGuardChainSpec(late.port), deletePortGuardOps(late));
      assert.deepEqual(sendRawFrames(sandbox.name, late.port, [frame(OTHER.ipv4)]), ['sent'], 'control: without the chain');
    } finally {
      inNs(sandbox.name, 'ip', ['link', 'del', late.port], { allowFail: true });
    }
  });
});
