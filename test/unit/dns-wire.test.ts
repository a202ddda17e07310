import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { RCODE, firstQuestionEnd, rcodeResponse } from '../../src/services/dns/wire.js';
import { addressOfReverseName, formatV6 } from '../../src/services/dns/reverse-name.js';
import { parseUpstream, parseUpstreams } from '../../src/services/dns/upstream.js';
import { FrameReader, frame } from '../../src/services/dns/tcp-framing.js';

test('rcodeResponse answers from raw bytes, keeping id, question and RD', () => {
  const q = dnsPacket.encode({ type: 'query', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'x.example', type: 'A' }] });
  const r = dnsPacket.decode(rcodeResponse(q, RCODE.SERVFAIL)!) as ReturnType<typeof dnsPacket.decode> & { rcode: string };
  assert.equal(r.id, 0x1234);
  assert.equal(r.rcode, 'SERVFAIL');
  assert.ok(r.flag_qr && r.flag_rd && r.flag_ra);
  assert.deepEqual(r.questions, [{ name: 'x.example', type: 'A', class: 'IN' }]);
  assert.equal(firstQuestionEnd(q), q.length);
  const headerOnly = dnsPacket.decode(rcodeResponse(q.subarray(0, 14), RCODE.FORMERR)!) as { rcode?: string; questions?: unknown[] };
  assert.equal(headerOnly.rcode, 'FORMERR');
  assert.equal(headerOnly.questions!.length, 0);
  assert.equal(rcodeResponse(Buffer.alloc(5), RCODE.FORMERR), null);
});

test('reverse names map to canonical addresses', () => {
  assert.equal(addressOfReverseName('4.3.2.1.in-addr.arpa'), '1.2.3.4');
  assert.equal(addressOfReverseName('3.2.1.in-addr.arpa'), null);
  assert.equal(addressOfReverseName('256.3.2.1.in-addr.arpa'), null);
  assert.equal(addressOfReverseName('01.3.2.1.in-addr.arpa'), null);
  const n = 'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa';
  assert.equal(addressOfReverseName(n), '4321:0:1:2:3:4:567:89ab');
  assert.equal(addressOfReverseName('1.0.ip6.arpa'), null);
  assert.equal(addressOfReverseName('example.com'), null);
});

test('formatV6 follows RFC 5952', () => {
  assert.equal(formatV6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), '2001:db8::1');
  assert.equal(formatV6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]), '2001:db8:0:1::1');
  assert.equal(formatV6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1', 'leftmost of equal runs');
  assert.equal(formatV6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1', 'one zero group is not ::');
  assert.equal(formatV6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
  assert.equal(formatV6([0xfd00, 0, 0, 0, 0, 0, 0, 0]), 'fd00::');
});

test('upstreams: ip, ip:port, v6, [v6]:port; junk skipped; at most 3', () => {
  assert.deepEqual(parseUpstream('1.1.1.1'), { ip: '1.1.1.1', port: 53, family: 4 });
  assert.deepEqual(parseUpstream('127.0.0.1:5353'), { ip: '127.0.0.1', port: 5353, family: 4 });
  assert.deepEqual(parseUpstream('2001:db8::1'), { ip: '2001:db8::1', port: 53, family: 6 });
  assert.deepEqual(parseUpstream('[::1]:54'), { ip: '::1', port: 54, family: 6 });
  assert.equal(parseUpstream('dns.example'), null);
  assert.equal(parseUpstream('1.1.1.1:0'), null);
  const bad: string[] = [];
  assert.deepEqual(parseUpstreams(['x', '1.1.1.1', '8.8.8.8', '9.9.9.9', '1.0.0.1'], (t) => bad.push(t)).map((u) => u.ip), ['1.1.1.1', '8.8.8.8', '9.9.9.9']);
  assert.deepEqual(bad, ['x']);
});

test('TCP framing reassembles messages split and joined across chunks', () => {
  const a = Buffer.from('hello');
  const b = Buffer.from('world!!');
  const stream = Buffer.concat([frame(a), frame(b)]);
  const r = new FrameReader();
  const out = [...r.push(stream.subarray(0, 1)), ...r.push(stream.subarray(1, 9)), ...r.push(stream.subarray(9))];
  assert.deepEqual(out.map(String), ['hello', 'world!!']);
  assert.equal(r.buffered, 0);
});
