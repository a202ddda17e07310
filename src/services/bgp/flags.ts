/**
 * The daemon's BGP flags, parsed: `--bgp-asn N` and `--bgp-peer ADDR[:ASN]` (repeatable).
 * Pure. A peer without `:ASN` is an iBGP peer (the local ASN). An IPv6 peer with an ASN is
 * written `[ADDR]:ASN`. Errors name the flag (INVALID_FLAG), as the other daemon flags do.
 */
import { invalid } from '../../errors.js';
import { formatIp, tryParseIp } from '../../model/ip.js';

export interface BgpPeer {
  /** Canonical address text. */
  address: string;
  asn: number;
}

export interface BgpSettings {
  asn: number;
  peers: BgpPeer[];
}

/** AS_TRANS (RFC 6793 §9): a placeholder for 4-byte ASNs, never a real AS. */
const AS_TRANS = 23456;

export function parseAsn(text: string, flag: string): number {
  const n = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 4294967295) || n === AS_TRANS) {
    throw invalid('INVALID_FLAG', `invalid ${flag} ${JSON.stringify(text)}: want an AS number from 1 to 4294967295 (not ${AS_TRANS}, AS_TRANS)`, flag);
  }
  return n;
}

/** One `--bgp-peer` value: `ADDR`, `ADDR:ASN` (IPv4) or `[ADDR]:ASN` / `ADDR` (IPv6). */
export function parseBgpPeer(text: string, localAsn: number): BgpPeer {
  const flag = '--bgp-peer';
  const bad = (why: string) => invalid('INVALID_FLAG', `invalid ${flag} ${JSON.stringify(text)}: ${why}`, flag);
  let addrText = text;
  let asnText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    addrText = bracketed[1]!;
    asnText = bracketed[2];
    if (asnText === '') throw bad('nothing after ":" (want [ADDR]:ASN)');
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [addrText, asnText] = text.split(':') as [string, string];
    if (asnText === '') throw bad('nothing after ":" (want ADDR:ASN)');
  }
  const ip = tryParseIp(addrText);
  if (!ip) throw bad(`${JSON.stringify(addrText)} is not an IP address (want ADDR[:ASN], [IPV6]:ASN)`);
  const value = formatIp(ip);
  if (ip.family === 4 ? ip.value === 0n || ip.value >> 24n === 127n : ip.value === 0n || ip.value === 1n) throw bad('not a usable peer address');
  return { address: value, asn: asnText === undefined ? localAsn : parseAsn(asnText, flag) };
}

/**
 * The flags as given (undefined / [] when absent). No `--bgp-asn` and no peers: BGP off
 * (undefined). Peers without an ASN, or a duplicate peer, are refused.
 */
export function parseBgpFlags(asnText: string | undefined, peerTexts: readonly string[]): BgpSettings | undefined {
  if (asnText === undefined || asnText === '') {
    if (peerTexts.length) throw invalid('INVALID_FLAG', '--bgp-peer needs --bgp-asn N (this host\'s AS number)', '--bgp-peer');
    return undefined;
  }
  const asn = parseAsn(asnText, '--bgp-asn');
  const peers: BgpPeer[] = [];
  for (const t of peerTexts) {
    const p = parseBgpPeer(t, asn);
    if (peers.some((q) => q.address === p.address)) throw invalid('INVALID_FLAG', `--bgp-peer ${p.address} is given twice`, '--bgp-peer');
    peers.push(p);
  }
  if (!peers.length) throw invalid('INVALID_FLAG', '--bgp-asn needs at least one --bgp-peer ADDR[:ASN] to announce to', '--bgp-asn');
  return { asn, peers };
}
