import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { Packet, RecordType } from 'dns-packet';
import { fastAnswer } from '../../src/services/dns/fast-answer.js';
import { resolveQuery, type Transport } from '../../src/services/dns/answer.js';
import type { DnsDirectory, LocalAddresses } from '../../src/services/dns/types.js';

const TABLE: Record<string, LocalAddresses> = {
  web: { v4: ['10.0.0.2', '10.0.0.3'], v6: ['fd00::2', '2001:db8::ffff:10.0.0.2'] },
  'db.backend': { v4: ['172.18.0.250'], v6: [] },
  many: { v4: Array.from({ length: 60 }, (_, i) => `10.1.0.${i + 1}`), v6: [] },
};
const dir: DnsDirectory = {
  lookup: (_sid, name) => TABLE[name] ?? null,
  reverse: () => null,
  upstreams: () => ({ servers: [], fromSandboxNs: false }),
};

function raw(name: string, type: RecordType, edns?: number): Buffer {
  const p: Packet = {
    type: 'query', id: 0xbeef, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  };
  return dnsPacket.encode(p);
}

/** What a client sees: header bits, rcode, answers, OPT presence. */
function view(buf: Buffer): unknown {
  const p = dnsPacket.decode(buf) as ReturnType<typeof dnsPacket.decode> & { rcode: string };
  return {
    id: p.id, rcode: p.rcode, qr: p.flag_qr, aa: p.flag_aa, rd: p.flag_rd, ra: p.flag_ra, tc: p.flag_tc,
    questions: p.questions,
    answers: p.answers!.map((a) => ({ ...a, flush: undefined })),
    opt: p.additionals!.filter((a) => a.type === 'OPT').map((a) => (a as { udpPayloadSize: number }).udpPayloadSize),
  };
}

const cases: Array<[string, RecordType, number | undefined, Transport]> = [
  ['web', 'A', undefined, 'udp'], ['WEB', 'A', 1232, 'udp'], ['web', 'AAAA', undefined, 'udp'],
  ['web', 'AAAA', 4096, 'tcp'], ['Db.Backend', 'A', undefined, 'udp'], ['db.backend', 'AAAA', 1232, 'udp'],
  ['many', 'A', 4096, 'udp'], ['many', 'A', undefined, 'tcp'],
];

test('the fast path answers exactly what the general path answers', () => {
  for (const [name, type, edns, transport] of cases) {
    for (const rotation of [0, 1, 5]) {
      const q = raw(name, type, edns);
      const fast = fastAnswer(q, { directory: dir, sandboxId: 's', transport, rotation, ttl: 5 });
      assert.ok(fast, `${name} ${type} ${edns} ${transport} should take the fast path`);
      const general = resolveQuery(dnsPacket.decode(q), { directory: dir, sandboxId: 's', transport, rotation, ttl: 5 });
      assert.equal(general.kind, 'local');
      assert.deepEqual(view(fast), view(dnsPacket.encode((general as { response: Packet }).response)), `${name} ${type} rotation ${rotation}`);
    }
  }
});

test('everything else is left to the general path', () => {
  const ctx = { directory: dir, sandboxId: 's', transport: 'udp' as const, rotation: 0, ttl: 5 };
  assert.equal(fastAnswer(raw('unknown', 'A'), ctx), null, 'unknown name → forward decision is not ours');
  assert.equal(fastAnswer(raw('web', 'MX'), ctx), null);
  assert.equal(fastAnswer(raw('many', 'A'), ctx), null, 'needs truncation');
  assert.equal(fastAnswer(raw('we b', 'A'), ctx), null, 'odd bytes in a label');
  assert.equal(fastAnswer(raw('web', 'A').subarray(0, 15), ctx), null, 'short message');
  const response = raw('web', 'A');
  response[2] |= 0x80;
  assert.equal(fastAnswer(response, ctx), null);
  const trailing = Buffer.concat([raw('web', 'A'), Buffer.from([0])]);
  assert.equal(fastAnswer(trailing, ctx), null);
});
