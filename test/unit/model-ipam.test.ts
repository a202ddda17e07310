import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SwitchyardError } from '../../src/errors.js';
import { cidrsOverlap, formatCidr, formatIp, parseCidr, parseIp, lastAddress, type Cidr } from '../../src/model/ip.js';
import {
  DEFAULT_POOLS, dynamicAddressesAvailable, parseAddressPool, pickAddress, pickSubnet, planPool,
  ulaPoolFromDigest, ulaPoolFromHostId, type AddressPool,
} from '../../src/model/ipam.js';

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const u32 = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  return { u32, int: (n: number) => u32() % n };
}

const cidrs = (...t: string[]) => t.map((x) => parseCidr(x));
const isErr = (kind: string, code: string, re?: RegExp) => (e: unknown) =>
  e instanceof SwitchyardError && e.kind === kind && e.code === code && (re === undefined || re.test(e.message));

test('default pools give Docker\'s 31 networks, in order', () => {
  const inUse: Cidr[] = [];
  for (let i = 0; i < 31; i++) inUse.push(pickSubnet({ pools: DEFAULT_POOLS, inUse }));
  assert.deepEqual(inUse.slice(0, 4).map(formatCidr), ['172.17.0.0/16', '172.18.0.0/16', '172.19.0.0/16', '172.20.0.0/16']);
  assert.equal(formatCidr(inUse[14]!), '172.31.0.0/16');
  assert.equal(formatCidr(inUse[15]!), '192.168.0.0/20');
  assert.equal(formatCidr(inUse[30]!), '192.168.240.0/20');
  assert.throws(() => pickSubnet({ pools: DEFAULT_POOLS, inUse }), isErr('unavailable', 'NO_AVAILABLE_POOL',
    /^could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network$/));
});

test('pickSubnet skips existing networks and reserved host prefixes', () => {
  const got = pickSubnet({
    pools: DEFAULT_POOLS,
    inUse: cidrs('172.17.0.0/16', '172.19.0.0/24'),
    reserved: cidrs('172.18.5.0/24' /* an on-link route */, '172.20.0.53/32' /* a nameserver */),
  });
  assert.equal(formatCidr(got), '172.21.0.0/16');
  // A big user subnet swallowing several candidates is jumped over in one step.
  assert.equal(formatCidr(pickSubnet({ pools: DEFAULT_POOLS, inUse: cidrs('172.16.0.0/12') })), '192.168.0.0/20');
  // IPv6 pools are separate.
  const ula = ulaPoolFromHostId('host-a');
  assert.equal(pickSubnet({ pools: [ula], inUse: [], family: 6 }).prefix, 64);
});

test('property: pickSubnet equals the brute-force first free candidate', () => {
  const r = prng(1234);
  const pools: AddressPool[] = [parseAddressPool('base=10.0.0.0/16,size=24'), parseAddressPool('base=10.1.0.0/20,size=28')];
  const candidates: Cidr[] = [];
  for (const p of pools) {
    const step = 1n << BigInt(32 - p.size);
    for (let a = p.base.network; a + step - 1n <= lastAddress(p.base); a += step) candidates.push(parseCidr(`${formatIp({ family: 4, value: a })}/${p.size}`));
  }
  for (let round = 0; round < 300; round++) {
    const blockers: Cidr[] = [];
    const n = r.int(40);
    for (let i = 0; i < n; i++) {
      const prefix = 14 + r.int(19);
      const addr = (10n << 24n) | BigInt(r.int(2) === 0 ? 0 : 1) << 16n | BigInt(r.u32() & 0xffff);
      blockers.push(parseCidr(`${formatIp({ family: 4, value: addr })}/${prefix}`));
    }
    const inUse = blockers.filter((_, i) => i % 2 === 0);
    const reserved = blockers.filter((_, i) => i % 2 === 1);
    const want = candidates.find((c) => !blockers.some((b) => cidrsOverlap(b, c)));
    let got: Cidr | undefined;
    try {
      got = pickSubnet({ pools, inUse, reserved });
    } catch (e) {
      assert.ok(e instanceof SwitchyardError && e.code === 'NO_AVAILABLE_POOL');
    }
    assert.equal(got && formatCidr(got), want && formatCidr(want), `round ${round}`);
  }
});

test('parseAddressPool', () => {
  const p = parseAddressPool('base=10.10.0.0/16,size=24');
  assert.equal(formatCidr(p.base), '10.10.0.0/16');
  assert.equal(p.size, 24);
  for (const bad of ['base=10.10.0.0/16', 'size=24', 'base=10.10.0.1/16,size=24', 'base=10.0.0.0/16,size=8',
    'base=10.0.0.0/16,size=33', 'base=10.0.0.0/16,size=x', 'base=10.0.0.0/16,size=24,foo=1']) {
    assert.throws(() => parseAddressPool(bad), (e: unknown) => e instanceof SwitchyardError && e.kind === 'invalid' && e.field === '--default-address-pool', bad);
  }
});

test('ULA pool derivation matches Docker (fd + 40 low bits of the first 8 digest bytes, /48 into /64s)', () => {
  const digest = createHash('sha256').update('my-host-id').digest();
  const p = ulaPoolFromHostId('my-host-id');
  assert.deepEqual(p, ulaPoolFromDigest(digest));
  const hex = digest.subarray(3, 8).toString('hex'); // 10 hex digits = 40 bits
  const want = `fd${hex.slice(0, 2)}:${hex.slice(2, 6)}:${hex.slice(6, 10)}::/48`.replace(/:0+([0-9a-f])/g, ':$1');
  assert.equal(formatCidr(p.base), want);
  assert.equal(p.size, 64);
  assert.equal(formatCidr(ulaPoolFromDigest(new Uint8Array([9, 9, 9, 0x12, 0x34, 0x56, 0x78, 0x9a])).base), 'fd12:3456:789a::/48');
  assert.notEqual(formatCidr(ulaPoolFromHostId('other').base), formatCidr(p.base));
});

test('planPool reserves network, broadcast, gateway and aux addresses', () => {
  const plan = planPool({ subnet: parseCidr('10.0.0.0/24'), ipRange: parseCidr('10.0.0.128/25'), auxAddresses: { router: parseIp('10.0.0.200') } });
  assert.equal(formatIp(plan.gateway!), '10.0.0.1');
  assert.deepEqual([...plan.reserved].map((v) => formatIp({ family: 4, value: v })).sort(), ['10.0.0.0', '10.0.0.1', '10.0.0.200', '10.0.0.255']);
  assert.equal(formatCidr(plan.range), '10.0.0.128/25');
  const v6 = planPool({ subnet: parseCidr('fd00::/64'), gateway: parseIp('fd00::fe') });
  assert.deepEqual([...v6.reserved].map((v) => formatIp({ family: 6, value: v })).sort(), ['fd00::', 'fd00::fe']);
  assert.equal(planPool({ subnet: parseCidr('10.0.0.0/24'), skipGateway: true }).gateway, undefined);
  assert.throws(() => planPool({ subnet: parseCidr('10.0.0.0/24'), gateway: parseIp('10.0.1.1') }),
    isErr('invalid', 'ADDRESS_OUTSIDE_SUBNET', /invalid gateway 10\.0\.1\.1: parent subnet 10\.0\.0\.0\/24 doesn't contain this address/));
  assert.throws(() => planPool({ subnet: parseCidr('10.0.0.0/24'), ipRange: parseCidr('10.0.0.0/23') }), isErr('invalid', 'RANGE_OUTSIDE_SUBNET'));
});

test('pickAddress: first free in range, static inside subnet, full pool is unavailable', () => {
  const plan = planPool({ subnet: parseCidr('10.0.0.0/24'), ipRange: parseCidr('10.0.0.128/30') });
  const used = new Set<bigint>();
  const got: string[] = [];
  for (let i = 0; i < 4; i++) {
    const a = pickAddress({ pool: plan, used, networkName: 'n1' });
    used.add(a.value);
    got.push(formatIp(a));
  }
  assert.deepEqual(got, ['10.0.0.128', '10.0.0.129', '10.0.0.130', '10.0.0.131']);
  assert.throws(() => pickAddress({ pool: plan, used, networkName: 'n1' }),
    isErr('unavailable', 'NO_AVAILABLE_ADDRESS', /no available IPv4 addresses on network n1: 10\.0\.0\.128\/30 is full/));
  // A static address may lie outside the range, but not outside the subnet, nor be taken.
  assert.equal(formatIp(pickAddress({ pool: plan, used, preferred: parseIp('10.0.0.10') })), '10.0.0.10');
  assert.throws(() => pickAddress({ pool: plan, used, preferred: parseIp('10.0.1.10') }),
    isErr('invalid', 'ADDRESS_OUTSIDE_SUBNET', /no configured subnet or ip-range contain the IP address 10\.0\.1\.10/));
  assert.throws(() => pickAddress({ pool: plan, used, preferred: parseIp('10.0.0.129'), networkName: 'n1' }), isErr('conflict', 'ADDRESS_IN_USE'));
  assert.throws(() => pickAddress({ pool: plan, used, preferred: parseIp('10.0.0.1') }), isErr('conflict', 'ADDRESS_IN_USE'), 'the gateway is reserved');
  // Sorted-list form and serial allocation.
  const whole = planPool({ subnet: parseCidr('10.0.0.0/29') }); // .0 net, .1 gw, .7 bcast
  assert.equal(formatIp(pickAddress({ pool: whole, used: [2n + (10n << 24n)] })), '10.0.0.3');
  assert.equal(formatIp(pickAddress({ pool: whole, used: [], after: (10n << 24n) + 5n })), '10.0.0.6');
  assert.equal(formatIp(pickAddress({ pool: whole, used: [], after: (10n << 24n) + 6n })), '10.0.0.2', 'serial wraps');
  assert.equal(dynamicAddressesAvailable(whole, new Set([(10n << 24n) + 2n])), 4n);
});

test('property: pickAddress equals brute-force first free, for Set and sorted list', () => {
  const r = prng(99);
  const plan = planPool({ subnet: parseCidr('10.9.0.0/26'), auxAddresses: { a: parseIp('10.9.0.9') } });
  for (let round = 0; round < 500; round++) {
    const used = new Set<bigint>();
    const k = r.int(64);
    for (let i = 0; i < k; i++) used.add(plan.subnet.network + BigInt(r.int(64)));
    let want: bigint | undefined;
    for (let v = plan.subnet.network; v <= lastAddress(plan.subnet); v++) {
      if (!used.has(v) && !plan.reserved.has(v)) { want = v; break; }
    }
    for (const u of [used, [...used].sort((a, b) => (a < b ? -1 : 1))]) {
      let got: bigint | undefined;
      try { got = pickAddress({ pool: plan, used: u }).value; } catch (e) { assert.ok(e instanceof SwitchyardError && e.code === 'NO_AVAILABLE_ADDRESS'); }
      assert.equal(got, want);
    }
  }
});

test('pickAddress stays fast with thousands of used addresses', () => {
  const plan = planPool({ subnet: parseCidr('10.0.0.0/16') });
  const used = new Set<bigint>();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 5000; i++) used.add(pickAddress({ pool: plan, used }).value);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(used.size, 5000);
  // One more pick past 5,000 contiguous used addresses.
  const t1 = process.hrtime.bigint();
  pickAddress({ pool: plan, used });
  const oneMs = Number(process.hrtime.bigint() - t1) / 1e6;
  console.log(`# 5000 sequential picks: ${ms.toFixed(1)} ms; one pick at 5000 used: ${oneMs.toFixed(2)} ms`);
  assert.ok(oneMs < 50, `one pick took ${oneMs} ms`);
});
