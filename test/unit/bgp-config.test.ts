import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SwitchyardError } from '../../src/errors.js';
import { KERNEL_METRIC, renderBirdConfig, type BirdConfigInput } from '../../src/services/bgp/config.js';
import { parseBgpFlags, parseBgpPeer } from '../../src/services/bgp/flags.js';

const coded = (code: string, field?: string, msg?: RegExp) => (e: unknown) =>
  e instanceof SwitchyardError && e.code === code && (field === undefined || e.field === field) && (!msg || msg.test(e.message));

const input: BirdConfigInput = {
  routerId: '10.99.1.2',
  asn: 65001,
  peers: [{ address: '10.99.1.1', asn: 65000 }, { address: '10.99.1.3', asn: 65001 }, { address: 'fd99::1', asn: 65001 }],
  blocks: ['10.20.0.0/26', 'fd20::/122'],
  subnets: ['10.20.0.0/16', 'fd20::/64'],
  nextHop6: 'fd99::2',
};

test('BIRD config: router id, static blackholes of own blocks exported, only routed subnets imported (not own blocks), kernel with our metric and persist', () => {
  const t = renderBirdConfig(input);
  assert.match(t, /^router id 10\.99\.1\.2;$/m);
  assert.match(t, /protocol static sy_blocks4 \{\n {2}ipv4;\n {2}route 10\.20\.0\.0\/26 blackhole;\n\}/);
  assert.match(t, /protocol static sy_blocks6 \{\n {2}ipv6;\n {2}route fd20::\/122 blackhole;\n\}/);
  assert.match(t, /filter sy_export4 \{\n {2}if proto = "sy_blocks4" then accept;\n {2}reject;\n\}/);
  assert.match(t, /if net ~ \[ 10\.20\.0\.0\/16\+ \] && !\(net ~ \[ 10\.20\.0\.0\/26 \]\) then accept;/);
  assert.match(t, /if net ~ \[ fd20::\/64\+ \] && !\(net ~ \[ fd20::\/122 \]\) then accept;/);
  for (const f of [4, 6]) {
    assert.match(t, new RegExp(`protocol kernel sy_kernel${f} \\{\\n  ipv${f} \\{ import none; export where source = RTS_BGP; \\};\\n  metric ${KERNEL_METRIC};\\n  persist;\\n  graceful restart;`));
  }
  // eBGP, iBGP (default ASN) and an IPv6 peer; graceful restart on every session.
  assert.match(t, /protocol bgp sy_peer1 \{\n {2}local as 65001;\n {2}neighbor 10\.99\.1\.1 as 65000;/);
  assert.match(t, /protocol bgp sy_peer2 \{\n {2}local as 65001;\n {2}neighbor 10\.99\.1\.3 as 65001;/);
  assert.equal(t.match(/graceful restart on;/g)!.length, 3);
  assert.match(t, /neighbor 10\.99\.1\.1 as 65000;[\s\S]*?ipv6 \{[\s\S]*?next hop address fd99::2;/);
  const v6peer = t.slice(t.indexOf('protocol bgp sy_peer3'));
  assert.doesNotMatch(v6peer, /ipv4 \{/, 'an IPv6 session carries IPv6 only');
  assert.match(v6peer, /next hop self;/);
});

test('BIRD config: without an IPv6 next hop an IPv4 session carries IPv4 only; no subnets → import nothing; bad input refused', () => {
  const t = renderBirdConfig({ ...input, peers: [{ address: '10.99.1.1', asn: 65000 }], nextHop6: undefined as unknown as string, subnets: [], blocks: [] });
  assert.doesNotMatch(t, /ipv6 \{\n {4}import/);
  assert.match(t, /filter sy_import4 \{\n {2}reject;\n\}/);
  assert.match(t, /protocol static sy_blocks4 \{\n {2}ipv4;\n\}/);
  assert.throws(() => renderBirdConfig({ ...input, routerId: 'fd99::2' }), coded('INVALID_BGP_CONFIG', 'routerId'));
  assert.throws(() => renderBirdConfig({ ...input, nextHop6: '10.0.0.1' }), coded('INVALID_BGP_CONFIG', 'nextHop6'));
  assert.throws(() => renderBirdConfig({ ...input, blocks: ['10.20.0.1/26'] }), coded('NON_CANONICAL_CIDR'));
  assert.throws(() => renderBirdConfig({ ...input, holdTime: 2 }), coded('INVALID_BGP_CONFIG', 'holdTime'));
  assert.equal(renderBirdConfig({ ...input, gracefulRestart: false }).match(/graceful restart off;/g)!.length, 3, 'off only when asked (a test\'s control)');
});

test('BIRD config: bird itself parses what we render (bird -p)', { skip: spawnSync('bird', ['--version']).error ? 'bird2 is not installed' : false }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-birdconf-'));
  try {
    for (const i of [input, { ...input, holdTime: 6 }, { ...input, blocks: [], subnets: [], peers: [{ address: '10.99.1.1', asn: 65000 }] }]) {
      const f = path.join(dir, 'bird.conf');
      fs.writeFileSync(f, renderBirdConfig(i));
      const r = spawnSync('bird', ['-p', '-c', f], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--bgp-asn / --bgp-peer: ADDR[:ASN], [IPV6]:ASN, iBGP by default; errors name the flag', () => {
  assert.equal(parseBgpFlags(undefined, []), undefined, 'BGP off');
  assert.deepEqual(parseBgpFlags('65001', ['10.0.0.1', '10.0.0.2:65002', '[fd00::1]:64512', 'fd00::2']), {
    asn: 65001,
    peers: [
      { address: '10.0.0.1', asn: 65001 },
      { address: '10.0.0.2', asn: 65002 },
      { address: 'fd00::1', asn: 64512 },
      { address: 'fd00::2', asn: 65001 },
    ],
  });
  assert.deepEqual(parseBgpFlags('4200000000', ['[FD00:0::1]']), { asn: 4200000000, peers: [{ address: 'fd00::1', asn: 4200000000 }] });
  assert.throws(() => parseBgpFlags(undefined, ['10.0.0.1']), coded('INVALID_FLAG', '--bgp-peer', /needs --bgp-asn/));
  assert.throws(() => parseBgpFlags('65001', []), coded('INVALID_FLAG', '--bgp-asn', /at least one --bgp-peer/));
  for (const bad of ['0', '23456', '4294967296', 'x', '-1', '65001.5']) assert.throws(() => parseBgpFlags(bad, ['10.0.0.1']), coded('INVALID_FLAG', '--bgp-asn'), bad);
  for (const bad of ['10.0.0.1:', '10.0.0.1:0', 'host.example', '10.0.0.300', '[fd00::1]:', '[fd00::1', '0.0.0.0', '127.0.0.1', '::1', '10.0.0.1:65001:1']) {
    assert.throws(() => parseBgpPeer(bad, 65001), coded('INVALID_FLAG', '--bgp-peer'), bad);
  }
  assert.throws(() => parseBgpFlags('65001', ['10.0.0.1', '10.0.0.1:65002']), coded('INVALID_FLAG', '--bgp-peer', /twice/));
});
