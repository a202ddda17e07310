/**
 * The embedded DNS's decision for one query, as a pure function of the decoded query and
 * the directory: answer locally (and with what) or forward upstream. No sockets, no clock;
 * the round-robin position is passed in. Rules follow Docker's resolver
 * (docs/notes/kernel-facts.md#docker-embedded-dns-names, moby libnetwork/resolver.go) with the differences
 * listed in docs/DNS.md.
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';
import type { DnsDirectory } from './types.js';
import { addressOfReverseName } from './reverse-name.js';
import { ADVERTISED_UDP_SIZE, CLASSIC_UDP_LIMIT, RCODE } from './wire.js';

export type Transport = 'udp' | 'tcp';

export interface AnswerContext {
  directory: DnsDirectory;
  sandboxId: string;
  transport: Transport;
  /** Round-robin position: a name with n addresses lists them from `rotation % n` on. */
  rotation: number;
  /** TTL of local records, in seconds. */
  ttl: number;
}

export type Resolution =
  | { kind: 'local'; response: Packet }
  | { kind: 'forward' }
  | { kind: 'drop' };

const FORWARD: Resolution = { kind: 'forward' };
const DROP: Resolution = { kind: 'drop' };
const OPCODE_QUERY = 0;

export function resolveQuery(query: DecodedPacket, ctx: AnswerContext): Resolution {
  if (query.type === 'response') return DROP; // never answer an answer (reflection loops)
  const opcode = ((query.flags ?? 0) >> 11) & 0x0f;
  if (opcode !== OPCODE_QUERY) return { kind: 'local', response: reply(query, RCODE.NOTIMP, []) };
  const questions = query.questions ?? [];
  // RFC 9619: a query carries exactly one question.
  if (questions.length !== 1) return { kind: 'local', response: reply(query, RCODE.FORMERR, []) };
  const question = questions[0]!;
  if ((question.class ?? 'IN') !== 'IN') return FORWARD;
  const name = canonicalName(question.name);

  if (question.type === 'PTR') return resolvePtr(query, question, name, ctx);

  const known = ctx.directory.lookup(ctx.sandboxId, name);
  if (known === null) {
    if ((question.type === 'A' || question.type === 'AAAA') && !name.includes('.') && ctx.directory.upstreams(ctx.sandboxId).userNdots) {
      // Docker §3.4 "ndots": let the stub resolver go on with its search domains.
      return { kind: 'local', response: reply(query, RCODE.NOERROR, []) };
    }
    return FORWARD;
  }
  if (question.type === 'A' || question.type === 'AAAA') {
    const addrs = question.type === 'A' ? known.v4 : known.v6;
    const answers: Answer[] = [];
    const n = addrs.length;
    for (let i = 0; i < n; i++) {
      answers.push({ type: question.type, name: question.name, class: 'IN', ttl: ctx.ttl, data: addrs[(ctx.rotation + i) % n]! });
    }
    // One family missing: an empty NOERROR, never a forward (moby#20335).
    return { kind: 'local', response: fit(reply(query, RCODE.NOERROR, answers), query, ctx.transport) };
  }
  // A name we own has no records of any other type: empty NOERROR (Docker does this for
  // MX only and forwards the rest, which lets an upstream NXDOMAIN contradict us).
  return { kind: 'local', response: reply(query, RCODE.NOERROR, []) };
}

function resolvePtr(query: DecodedPacket, question: Question, name: string, ctx: AnswerContext): Resolution {
  const ip = addressOfReverseName(name);
  if (ip === null) return FORWARD;
  const host = ctx.directory.reverse(ctx.sandboxId, ip);
  if (host === null) return FORWARD;
  const answer: Answer = { type: 'PTR', name: question.name, class: 'IN', ttl: ctx.ttl, data: host };
  return { kind: 'local', response: fit(reply(query, RCODE.NOERROR, [answer]), query, ctx.transport) };
}

/** Lower-cased, without the trailing dot: the form the directory is keyed by. */
export function canonicalName(name: string): string {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  return bare.toLowerCase();
}

/** The largest response the client accepts over `transport` (RFC 1035 §4.2.1, RFC 6891 §6.2.3, RFC 1035 §4.2.2). */
export function responseLimit(query: DecodedPacket, transport: Transport): number {
  if (transport === 'tcp') return 65535;
  const opt = ednsOpt(query);
  return opt ? Math.max(CLASSIC_UDP_LIMIT, opt.udpPayloadSize) : CLASSIC_UDP_LIMIT;
}

function ednsOpt(query: Packet): (Answer & { type: 'OPT'; udpPayloadSize: number }) | undefined {
  const extra = query.additionals;
  if (!extra) return undefined;
  for (const rr of extra) if (rr.type === 'OPT') return rr;
  return undefined;
}

function reply(query: DecodedPacket, rcode: number, answers: Answer[]): Packet {
  const rd = query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
  const aa = rcode === RCODE.NOERROR ? dnsPacket.AUTHORITATIVE_ANSWER : 0;
  // RFC 6891 §7: a query with an OPT record gets one back.
  const additionals: Answer[] = ednsOpt(query)
    ? [{ type: 'OPT', name: '.', udpPayloadSize: ADVERTISED_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
    : [];
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: aa | rd | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: query.questions ?? [],
    answers,
    authorities: [],
    additionals,
  };
}

/**
 * Over UDP, keeps as many answers as fit in the client's limit and sets TC when some were
 * dropped (RFC 2181 §9), so the client retries over TCP and gets them all.
 */
function fit(response: Packet, query: DecodedPacket, transport: Transport): Packet {
  const limit = responseLimit(query, transport);
  if (dnsPacket.encodingLength(response) <= limit) return response;
  const answers = [...(response.answers ?? [])];
  const truncated: Packet = { ...response, flags: (response.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers };
  while (answers.length > 0 && dnsPacket.encodingLength(truncated) > limit) answers.pop();
  return truncated;
}
