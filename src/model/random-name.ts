/**
 * Generated sandbox names, like Docker's `adjective_surname`, from random bytes passed in.
 */
const ADJECTIVES = [
  'agile', 'bold', 'brave', 'bright', 'calm', 'clever', 'cool', 'eager', 'fast', 'gentle',
  'happy', 'keen', 'kind', 'lucid', 'merry', 'modest', 'nimble', 'proud', 'quiet', 'quick',
  'sharp', 'steady', 'swift', 'tidy', 'vivid', 'warm', 'wise', 'witty', 'young', 'zesty',
];
const NOUNS = [
  'babbage', 'bell', 'cerf', 'curie', 'dijkstra', 'euler', 'fermi', 'gauss', 'hopper', 'kahn',
  'knuth', 'lamport', 'liskov', 'lovelace', 'metcalfe', 'noether', 'pike', 'postel', 'ritchie', 'shannon',
  'thompson', 'torvalds', 'turing', 'wozniak', 'perlman', 'baran', 'clark', 'jacobson', 'floyd', 'hamming',
];

export function randomName(bytes: Uint8Array): string {
  const a = ADJECTIVES[(bytes[0] ?? 0) % ADJECTIVES.length]!;
  const n = NOUNS[(bytes[1] ?? 0) % NOUNS.length]!;
  const suffix = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  return `${a}_${n}_${suffix.toString(16)}`;
}
