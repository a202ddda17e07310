import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';
import { resolveQuery, type AnswerContext, type Resolution } from '../../src/services/dns/answer.js';
import type { DnsDirectory, LocalAddresses, UpstreamSet } from '../../src/services/dns/types.js';

/** A table-backed directory: names per sandbox, PTRs per sandbox; records what it was asked. */
function directory(names: Record<string, Record<string, LocalAddresses>>, ptrs: Record<string, Record<string, string>> = {}, up: Partial<UpstreamSet> = {}): DnsDirectory & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookup: (sid, name) => { asked.push(name); return names[sid]?.[name] ?? null; },
    reverse: (sid, ip) => { asked.push(`ptr:${ip}`); return ptrs[sid]?.[ip] ?? null; },
    upstreams: () => ({ servers: [], fromSandboxNs: false, ...up }),
  };
}

function query(name: string, type: RecordType, opts: { edns?: number; id?: number } = {}): DecodedPacket {
  const p: Packet = {
    type: 'query', id: opts.id ?? 4242, flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  };
  return dnsPacket.decode(dnsPacket.encode(p));
}

function ctx(dir: DnsDirectory, over: Partial<AnswerContext> = {}): AnswerContext {
  return { directory: dir, sandboxId: 'sa', transport: 'udp', rotation: 0, ttl: 5, ...over };
}

/** The local answer, re-decoded from its wire form (what a client sees). */
function wire(r: Resolution): DecodedPacket & { rcode?: string } {
  assert.equal(r.kind, 'local', `expected a local answer, got ${r.kind}`);
  return dnsPacket.decode(dnsPacket.encode((r as { response: Packet }).response)) as DecodedPacket & { rcode?: string };
}
const data = (p: Packet): unknown[] => (p.answers ?? []).map((a: Answer) => ('data' in a ? a.data : null));

const WEB = { v4: ['10.0.0.2', '10.0.0.3', '10.0.0.4'], v6: ['fd00::2'] };
const V4ONLY = { v4: ['10.0.0.9'], v6: [] };

test('A and AAAA come from the directory, with the TTL, AA and RA set, RD echoed', () => {
  const dir = directory({ sa: { web: WEB } });
  const a = wire(resolveQuery(query('web', 'A'), ctx(dir)));
  assert.equal(a.rcode, 'NOERROR');
  assert.deepEqual(data(a), WEB.v4);
  assert.ok(a.flag_aa && a.flag_ra && a.flag_rd && a.flag_qr);
  assert.equal(a.id, 4242);
  assert.equal((a.answers![0] as { ttl: number }).ttl, 5);
  const aaaa = wire(resolveQuery(query('web', 'AAAA'), ctx(dir)));
  assert.deepEqual(data(aaaa), ['fd00::2']);
});

test('the missing family gets an empty NOERROR, never a forward', () => {
  const r = wire(resolveQuery(query('v4only', 'AAAA'), ctx(directory({ sa: { v4only: V4ONLY } }))));
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.answers!.length, 0);
});

test('several addresses rotate across queries (round robin)', () => {
  const dir = directory({ sa: { web: WEB } });
  const firsts = [0, 1, 2, 3].map((rotation) => data(wire(resolveQuery(query('web', 'A'), ctx(dir, { rotation }))))[0]);
  assert.deepEqual(firsts, ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.2']);
  const all = data(wire(resolveQuery(query('web', 'A'), ctx(dir, { rotation: 1 }))));
  assert.deepEqual(all, ['10.0.0.3', '10.0.0.4', '10.0.0.2']);
});

test('names are matched case-insensitively and the answer echoes the asked case', () => {
  const dir = directory({ sa: { web: WEB } });
  const r = wire(resolveQuery(query('WeB.', 'A'), ctx(dir)));
  assert.deepEqual(dir.asked, ['web']);
  assert.equal(r.answers![0]!.name, 'WeB');
  assert.equal(r.answers!.length, 3);
});

test('<name>.<network> reaches the directory as one lower-cased name', () => {
  const dir = directory({ sa: { 'web.frontend': V4ONLY } });
  assert.deepEqual(data(wire(resolveQuery(query('Web.Frontend', 'A'), ctx(dir)))), ['10.0.0.9']);
});

test('the directory decides per sandbox', () => {
  const dir = directory({ sa: { db: V4ONLY }, sb: {} });
  assert.equal(resolveQuery(query('db', 'A'), ctx(dir)).kind, 'local');
  assert.equal(resolveQuery(query('db', 'A'), ctx(dir, { sandboxId: 'sb' })).kind, 'forward');
});

test('unknown names, other classes and unknown PTRs are forwarded', () => {
  const dir = directory({ sa: {} });
  assert.equal(resolveQuery(query('example.com', 'A'), ctx(dir)).kind, 'forward');
  assert.equal(resolveQuery(query('example.com', 'TXT'), ctx(dir)).kind, 'forward');
  assert.equal(resolveQuery(query('9.9.9.9.in-addr.arpa', 'PTR'), ctx(dir)).kind, 'forward');
  assert.equal(resolveQuery(query('9.9.in-addr.arpa', 'PTR'), ctx(dir)).kind, 'forward');
  const chaos = dnsPacket.decode(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] }));
  assert.equal(resolveQuery(chaos, ctx(dir)).kind, 'forward');
});

test('other record types for a local name get an empty NOERROR (implicit MX and the rest)', () => {
  const dir = directory({ sa: { web: WEB } });
  for (const t of ['MX', 'TXT', 'SRV'] as const) {
    const r = wire(resolveQuery(query('web', t), ctx(dir)));
    assert.equal(r.rcode, 'NOERROR', t);
    assert.equal(r.answers!.length, 0, t);
  }
});

test('PTR for sandbox addresses, IPv4 and IPv6', () => {
  const dir = directory({}, { sa: { '10.0.0.2': 'web.frontend', 'fd00::2': 'web.frontend' } });
  const v4 = wire(resolveQuery(query('2.0.0.10.in-addr.arpa', 'PTR'), ctx(dir)));
  assert.deepEqual(data(v4), ['web.frontend']);
  const nibbles = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
  const v6 = wire(resolveQuery(query(nibbles, 'PTR'), ctx(dir)));
  assert.deepEqual(data(v6), ['web.frontend']);
  assert.ok(dir.asked.includes('ptr:fd00::2'));
});

test('ndots set by the user: an unknown single label gets an empty NOERROR, dotted names still forward', () => {
  const dir = directory({ sa: {} }, {}, { userNdots: true });
  const r = wire(resolveQuery(query('printer', 'A'), ctx(dir)));
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.answers!.length, 0);
  assert.equal(resolveQuery(query('printer.corp', 'A'), ctx(dir)).kind, 'forward');
  assert.equal(resolveQuery(query('printer', 'A'), ctx(directory({ sa: {} }))).kind, 'forward');
});

const MANY = { v4: Array.from({ length: 60 }, (_, i) => `10.1.0.${i + 1}`), v6: [] };

test('a large local answer over UDP is cut to 512 bytes with TC set', () => {
  const dir = directory({ sa: { many: MANY } });
  const res = resolveQuery(query('many', 'A'), ctx(dir));
  const buf = dnsPacket.encode((res as { response: Packet }).response);
  assert.ok(buf.length <= 512, `${buf.length} bytes`);
  const r = dnsPacket.decode(buf);
  assert.ok(r.flag_tc);
  assert.ok(r.answers!.length > 0 && r.answers!.length < 60);
});

test('the EDNS size raises the UDP limit; TCP is never truncated', () => {
  const dir = directory({ sa: { many: MANY } });
  const edns = wire(resolveQuery(query('many', 'A', { edns: 4096 }), ctx(dir)));
  assert.equal(edns.answers!.length, 60);
  assert.ok(!edns.flag_tc);
  assert.equal(edns.additionals!.filter((a) => a.type === 'OPT').length, 1, 'an OPT answers an OPT (RFC 6891 §7)');
  const small = resolveQuery(query('many', 'A', { edns: 600 }), ctx(dir));
  const smallBuf = dnsPacket.encode((small as { response: Packet }).response);
  assert.ok(smallBuf.length <= 600 && dnsPacket.decode(smallBuf).flag_tc);
  const tcp = wire(resolveQuery(query('many', 'A'), ctx(dir, { transport: 'tcp' })));
  assert.equal(tcp.answers!.length, 60);
  assert.ok(!tcp.flag_tc);
});

test('malformed shapes: two questions → FORMERR, a response → dropped, a non-QUERY opcode → NOTIMP', () => {
  const dir = directory({ sa: { web: WEB } });
  const two = dnsPacket.decode(dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'a', type: 'A' }, { name: 'b', type: 'A' }] }));
  assert.equal(wire(resolveQuery(two, ctx(dir))).rcode, 'FORMERR');
  const resp = dnsPacket.decode(dnsPacket.encode({ type: 'response', id: 7, questions: [{ name: 'web', type: 'A' }] }));
  assert.equal(resolveQuery(resp, ctx(dir)).kind, 'drop');
  const notify = dnsPacket.decode(dnsPacket.encode({ type: 'query', id: 7, flags: 4 << 11, questions: [{ name: 'web', type: 'SOA' }] }));
  assert.equal(wire(resolveQuery(notify, ctx(dir))).rcode, 'NOTIMP');
});
