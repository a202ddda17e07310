import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { parseCanonicalCidr, formatCidr, parseIp, formatIp } from '../../src/model/ip.js';
import {
  blockClaimKey, blockCount, blockOf, blockPrefix, checkBlockFits, freeAddressInBlocks, needsAnotherBlock, nextFreeBlock, nthBlock, parseBlocks,
  parseBlockSize, pickBlockAddress, releasableBlocks,
} from '../../src/model/ip-blocks.js';

const c = (t: string) => parseCanonicalCidr(t, 'x');
const ip = (t: string) => parseIp(t).value;
const coded = (code: string, field?: string) => (e: unknown) => e instanceof SwitchyardError && e.code === code && (field === undefined || e.field === field);

test('block size: default /26 (IPv6 /122), an IPv4 prefix from 16 to 30, refused otherwise naming the option', () => {
  assert.equal(parseBlockSize(undefined), 26);
  assert.equal(parseBlockSize(''), 26);
  assert.equal(parseBlockSize('24'), 24);
  assert.equal(parseBlockSize('/28'), 28);
  for (const bad of ['15', '31', '32', 'x', '26.0', '-1', '0026x']) {
    assert.throws(() => parseBlockSize(bad), coded('INVALID_OPTION', 'Options.com.switchyard.routed.block_size'), bad);
  }
  assert.equal(blockPrefix(c('10.0.0.0/16'), 26), 26);
  assert.equal(blockPrefix(c('fd00::/64'), 26), 122);
});

test('blocks of a subnet: count, n-th, the block of an address; a block larger than the subnet is refused', () => {
  assert.equal(blockCount(c('10.1.0.0/16'), 26), 1024n);
  assert.equal(blockCount(c('10.1.0.0/26'), 26), 1n);
  assert.equal(blockCount(c('fd00::/64'), 26), 1n << 58n);
  assert.equal(formatCidr(nthBlock(c('10.1.0.0/16'), 26, 0n)), '10.1.0.0/26');
  assert.equal(formatCidr(nthBlock(c('10.1.0.0/16'), 26, 5n)), '10.1.1.64/26');
  assert.equal(formatCidr(nthBlock(c('fd00::/64'), 26, 3n)), 'fd00::c0/122');
  assert.throws(() => nthBlock(c('10.1.0.0/16'), 26, 1024n), coded('BLOCK_OUT_OF_RANGE'));
  assert.equal(formatCidr(blockOf(c('10.1.0.0/16'), 26, parseIp('10.1.1.77'))!), '10.1.1.64/26');
  assert.equal(blockOf(c('10.1.0.0/16'), 26, parseIp('10.2.0.1')), undefined);
  assert.throws(() => checkBlockFits(c('10.1.0.0/28'), 26), coded('BLOCK_LARGER_THAN_SUBNET', 'Options.com.switchyard.routed.block_size'));
  assert.throws(() => checkBlockFits(c('fd00::/124'), 26), coded('BLOCK_LARGER_THAN_SUBNET'));
});

test('next free block: the first unclaimed one; none when all are claimed; claims that are not blocks of the subnet are refused', () => {
  const s = c('10.1.0.0/24');
  assert.equal(formatCidr(nextFreeBlock(s, 26, [])!), '10.1.0.0/26');
  assert.equal(formatCidr(nextFreeBlock(s, 26, ['10.1.0.0/26', '10.1.0.128/26'])!), '10.1.0.64/26');
  assert.equal(nextFreeBlock(s, 26, ['10.1.0.0/26', '10.1.0.64/26', '10.1.0.128/26', '10.1.0.192/26']), undefined);
  assert.throws(() => nextFreeBlock(s, 26, ['10.1.0.0/25']), coded('INVALID_BLOCK'));
  assert.throws(() => nextFreeBlock(s, 26, ['10.2.0.0/26']), coded('INVALID_BLOCK'));
  assert.throws(() => parseBlocks(s, 26, ['10.1.0.1/26']), coded('NON_CANONICAL_CIDR'));
  // A big IPv6 subnet with many claims: the scan stops after |claimed| + 1 probes.
  const v6 = c('fd00::/64');
  const claimed = Array.from({ length: 500 }, (_, n) => formatCidr(nthBlock(v6, 26, BigInt(n))));
  assert.equal(formatCidr(nextFreeBlock(v6, 26, claimed)!), 'fd00::7d00/122');
});

test('addresses out of own blocks: first free (network and IPv4 broadcast of the subnet reserved), static ones checked, full → BLOCKS_FULL', () => {
  const s = c('10.1.0.0/24');
  const own = [c('10.1.0.64/26'), c('10.1.0.0/26')];
  assert.equal(formatIp(freeAddressInBlocks(s, own, new Set())!), '10.1.0.1', 'the subnet\'s network address is reserved');
  assert.equal(formatIp(pickBlockAddress(s, own, new Set([ip('10.1.0.1')]))), '10.1.0.2');
  assert.equal(formatIp(pickBlockAddress(s, own, new Set(), parseIp('10.1.0.70'))), '10.1.0.70');
  assert.throws(() => pickBlockAddress(s, own, new Set(), parseIp('10.1.0.130')), coded('ADDRESS_NOT_IN_OWN_BLOCKS'));
  assert.throws(() => pickBlockAddress(s, own, new Set([ip('10.1.0.70')]), parseIp('10.1.0.70')), coded('ADDRESS_IN_USE'));
  assert.throws(() => pickBlockAddress(s, own, new Set(), parseIp('10.1.0.0')), coded('ADDRESS_IN_USE'));
  const last = [c('10.1.0.192/26')];
  const used = new Set(Array.from({ length: 62 }, (_, n) => ip(`10.1.0.${192 + n}`)));
  assert.equal(formatIp(pickBlockAddress(s, last, used)), '10.1.0.254');
  used.add(ip('10.1.0.254'));
  assert.ok(needsAnotherBlock(s, last, used), '10.1.0.255 is the broadcast address: the block is full');
  assert.throws(() => pickBlockAddress(s, last, used), coded('BLOCKS_FULL'));
  assert.ok(needsAnotherBlock(s, [], new Set()), 'a host without blocks needs one');
  assert.ok(!needsAnotherBlock(s, own, new Set()));
  const v6 = c('fd00::/64');
  assert.equal(formatIp(pickBlockAddress(v6, [c('fd00::40/122')], new Set())), 'fd00::40');
});

test('releasable blocks: the empty ones, keeping `keep` claimed in all', () => {
  const own = [c('10.1.0.0/26'), c('10.1.0.64/26'), c('10.1.0.128/26')];
  const used = new Set([ip('10.1.0.70')]);
  assert.deepEqual(releasableBlocks(own, used).map(formatCidr), ['10.1.0.0/26', '10.1.0.128/26']);
  assert.deepEqual(releasableBlocks(own, used, 2).map(formatCidr), ['10.1.0.128/26'], 'one in use + one kept empty');
  assert.deepEqual(releasableBlocks(own, new Set(), 1).map(formatCidr), ['10.1.0.64/26', '10.1.0.128/26']);
  assert.deepEqual(releasableBlocks(own, used, 1).map(formatCidr), ['10.1.0.0/26', '10.1.0.128/26'], 'the block in use is the one kept');
});

test('block claim key: /blocks/<net>/<cidr>', () => {
  assert.equal(blockClaimKey('ab12', c('10.1.0.64/26')), '/blocks/ab12/10.1.0.64/26');
  assert.equal(blockClaimKey('ab12', 'fd00::40/122'), '/blocks/ab12/fd00::40/122');
});
