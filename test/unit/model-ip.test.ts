import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { SwitchyardError } from '../../src/errors.js';
import {
  cidrContains, cidrContainsCidr, cidrOf, cidrSize, cidrsOverlap, firstHost, formatCidr, formatCidrAddress,
  formatIp, formatIpValue, isValidMac, lastAddress, lastHost, nthAddress, parseCanonicalCidr, parseCidr, parseIp,
  parseMac, randomMac, tryParseCidr, tryParseIp, type Cidr, type IpFamily,
} from '../../src/model/ip.js';

/** Deterministic xorshift PRNG so property failures are reproducible (seed printed on failure). */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const u32 = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
  const big = (bits: number): bigint => {
    let v = 0n;
    for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(u32());
    return v & ((1n << BigInt(bits)) - 1n);
  };
  return { u32, big, int: (n: number) => u32() % n };
}

test('parses and formats IPv4 addresses', () => {
  const cases: [string, string | undefined][] = [
    ['0.0.0.0', '0.0.0.0'], ['255.255.255.255', '255.255.255.255'], ['10.1.2.3', '10.1.2.3'],
    ['256.0.0.1', undefined], ['1.2.3', undefined], ['1.2.3.4.5', undefined], ['01.2.3.4', undefined],
    ['1.2.3.-1', undefined], ['', undefined], [' 1.2.3.4', undefined], ['1.2.3.4/24', undefined],
  ];
  for (const [text, want] of cases) {
    const got = tryParseIp(text);
    assert.equal(got === undefined ? undefined : formatIp(got), want, text);
  }
});

test('formats IPv6 canonically (RFC 5952)', () => {
  const cases: [string, string | undefined][] = [
    ['::', '::'], ['::1', '::1'], ['1::', '1::'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs (§4.2.3)
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is kept (§4.2.2)
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins (§4.2.3)
    ['fd00:1:2:3::', 'fd00:1:2:3::'], ['::ffff:10.0.0.1', '::ffff:10.0.0.1'], ['::ffff:a00:1', '::ffff:10.0.0.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'], ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['1:2:3:4:5:6:7:8:9', undefined], ['1::2::3', undefined], [':1::2', undefined], ['1::2:', undefined],
    ['12345::', undefined], ['fe80::1%eth0', undefined], ['1.2.3.4::', undefined], ['::1.2.3', undefined], [':::', undefined],
  ];
  for (const [text, want] of cases) {
    const got = tryParseIp(text);
    assert.equal(got === undefined ? undefined : formatIp(got), want, text);
  }
});

test('parseIp names the field in its error', () => {
  assert.throws(() => parseIp('nope', 'IPAMConfig.IPv4Address'), (e: unknown) =>
    e instanceof SwitchyardError && e.kind === 'invalid' && e.field === 'IPAMConfig.IPv4Address' && /nope/.test(e.message));
});

test('property: IPv6 text round-trips and matches the WHATWG serializer (same rules as RFC 5952)', () => {
  const r = prng(0x5eed);
  for (let i = 0; i < 3000; i++) {
    // Bias towards zero groups so compression paths are exercised.
    let v = 0n;
    for (let g = 0; g < 8; g++) v = (v << 16n) | (r.int(3) === 0 ? BigInt(r.u32() & 0xffff) : 0n);
    const text = formatIpValue(6, v);
    assert.ok(isIPv6(text), text);
    assert.equal(tryParseIp(text)?.value, v, text);
    if (v >> 32n !== 0xffffn) assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1), text);
  }
});

test('property: IPv4 text round-trips', () => {
  const r = prng(42);
  for (let i = 0; i < 2000; i++) {
    const v = r.big(32);
    const text = formatIpValue(4, v);
    assert.ok(isIPv4(text), text);
    assert.equal(tryParseIp(text)?.value, v);
  }
});

test('parseCidr and canonical form', () => {
  const c = parseCidr('10.1.2.3/16');
  assert.equal(formatCidr(c), '10.1.0.0/16');
  assert.equal(formatCidrAddress(c), '10.1.2.3/16');
  assert.equal(formatCidr(parseCidr('2001:DB8::1/32')), '2001:db8::/32');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', '::/129', 'x/8', '10.0.0.0/']) {
    assert.equal(tryParseCidr(bad), undefined, bad);
    assert.throws(() => parseCidr(bad, 'IPAM.Config[0].Subnet'), (e: unknown) =>
      e instanceof SwitchyardError && e.field === 'IPAM.Config[0].Subnet' && e.message === `invalid subnet ${bad}: invalid CIDR block notation`);
  }
  assert.throws(() => parseCanonicalCidr('10.0.0.1/8', 'f'), { message: 'invalid subnet 10.0.0.1/8: it should be 10.0.0.0/8' });
  assert.throws(() => parseCanonicalCidr('fd00::1/64', 'f'), { message: 'invalid subnet fd00::1/64: it should be fd00::/64' });
  assert.equal(formatCidr(parseCanonicalCidr('0.0.0.0/0', 'f')), '0.0.0.0/0');
});

test('first, last and nth hosts', () => {
  const cases: [string, string, string, bigint][] = [
    ['172.17.0.0/16', '172.17.0.1', '172.17.255.254', 65536n],
    ['10.0.0.0/30', '10.0.0.1', '10.0.0.2', 4n],
    ['10.0.0.0/31', '10.0.0.0', '10.0.0.1', 2n],
    ['10.0.0.7/32', '10.0.0.7', '10.0.0.7', 1n],
    ['fd00::/64', 'fd00::1', 'fd00::ffff:ffff:ffff:ffff', 1n << 64n],
    ['fd00::/127', 'fd00::', 'fd00::1', 2n],
  ];
  for (const [text, first, last, size] of cases) {
    const c = parseCidr(text);
    assert.equal(formatIp(firstHost(c)), first, text);
    assert.equal(formatIp(lastHost(c)), last, text);
    assert.equal(cidrSize(c), size, text);
  }
  assert.equal(formatIp(nthAddress(parseCidr('10.0.0.0/24'), 5n)), '10.0.0.5');
  assert.throws(() => nthAddress(parseCidr('10.0.0.0/24'), 256n), SwitchyardError);
});

function randomCidr(r: ReturnType<typeof prng>, family: IpFamily): Cidr {
  const bits = family === 4 ? 32 : 128;
  // Keep prefixes near each other so overlaps are frequent.
  const prefix = family === 4 ? 8 + r.int(17) : 40 + r.int(40);
  const base = family === 4 ? 0x0a000000n | (r.big(32) & 0x00ffffffn) : (0xfdn << 120n) | (r.big(128) & ((1n << 100n) - 1n));
  void bits;
  return cidrOf(family, base, prefix);
}

test('property: contains/overlaps agree with interval arithmetic', () => {
  const r = prng(7);
  for (let i = 0; i < 3000; i++) {
    const family: IpFamily = r.int(2) === 0 ? 4 : 6;
    const a = randomCidr(r, family);
    const b = randomCidr(r, family);
    const [aLo, aHi, bLo, bHi] = [a.network, lastAddress(a), b.network, lastAddress(b)];
    assert.equal(cidrsOverlap(a, b), aLo <= bHi && bLo <= aHi);
    assert.equal(cidrsOverlap(a, b), cidrContainsCidr(a, b) || cidrContainsCidr(b, a), 'prefixes overlap only by nesting');
    assert.equal(cidrContainsCidr(a, b), bLo >= aLo && bHi <= aHi);
    const probe = { family, value: bLo + (bHi - bLo) / 2n };
    assert.equal(cidrContains(a, probe), probe.value >= aLo && probe.value <= aHi);
    assert.ok(cidrContains(a, firstHost(a)) && cidrContains(a, lastHost(a)));
    assert.equal(lastAddress(a) - a.network + 1n, cidrSize(a));
    assert.equal(a.network & ((1n << BigInt((family === 4 ? 32 : 128) - a.prefix)) - 1n), 0n, 'network is masked');
  }
  assert.equal(cidrsOverlap(parseCidr('10.0.0.0/8'), parseCidr('::/0')), false, 'families never overlap');
});

test('MAC addresses', () => {
  assert.equal(randomMac(new Uint8Array([0xff, 1, 2, 3, 4, 5])), 'fe:01:02:03:04:05');
  assert.equal(randomMac(new Uint8Array([0x00, 0, 0, 0, 0, 0])), '02:00:00:00:00:00');
  const r = prng(9);
  for (let i = 0; i < 500; i++) {
    const mac = randomMac(new Uint8Array(Array.from({ length: 6 }, () => r.int(256))));
    const first = parseInt(mac.slice(0, 2), 16);
    assert.ok(isValidMac(mac) && (first & 0x02) === 2 && (first & 0x01) === 0, mac);
    assert.equal(parseMac(mac), mac);
  }
  assert.equal(parseMac('AA:BB:CC:DD:EE:FF'.replace('AA', 'A2')), 'a2:bb:cc:dd:ee:ff');
  for (const bad of ['aa:bb:cc:dd:ee', 'aa-bb-cc-dd-ee-ff', 'gg:bb:cc:dd:ee:ff', '01:00:5e:00:00:01']) {
    assert.throws(() => parseMac(bad, 'MacAddress'), (e: unknown) => e instanceof SwitchyardError && e.field === 'MacAddress', bad);
  }
  assert.throws(() => randomMac(new Uint8Array(5)), SwitchyardError);
});
