/**
 * Hostile input generators for the API and CLI fuzzers (fast-check). Every generator
 * here yields input that must be refused: a bad name always carries a character outside
 * [a-zA-Z0-9_.-] or is too long, a bad CIDR is never a CIDR, a wrong type is never the
 * field's type nor null (null means "absent" for optional fields), and an unknown
 * reference can never be an ID prefix (it holds letters beyond a-f).
 */
import fc from 'fast-check';

/** Characters no name may contain; '/' only ever in the middle (a leading one is allowed). */
export const META = [';', '|', '&', '$(', '`', '>', '<', '\n', '\0', ' ', '"', "'", '\\', '*', '?', '{', '}', '/', '%', '!', '#', '~', ',', ':', '=', '@', '\t', '\u00e9', '\u{1f600}'];

export const badName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '../../etc', '../../../../etc/passwd', '/etc/passwd/x', '..', '.', '', ' ', '-rf', '.hidden', '_x', 'a\0b', 'x'.repeat(65), 'x'.repeat(5000),
    '$(reboot)', '`id`', 'a;rm -rf /', 'a|b', 'a&&b', '\u540d\u524d', '\u{1f600}', 'a b', 'a\nb', '%2e%2e%2f', 'a/../../b', '*', 'a?b=c',
  ),
  fc.tuple(fc.stringMatching(/^[a-z0-9]{1,8}$/), fc.constantFrom(...META), fc.string({ maxLength: 8 })).map(([a, m, b]) => a + m + b),
  fc.string({ minLength: 65, maxLength: 400 }),
);

export const badCidr: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('10.0.0.0/33', '300.1.1.0/24', '::/129', 'banana', '10.0.0.0/-1', '10.0.0.0/24/1', '10.0.0.0 /24', '10.0.0.0/24;rm -rf /',
    '1.2.3.4/', '/24', '10.0.0/24', '10.0.0.0.0/24', 'fe80::/64%eth0', '10.0.0.0/8\0', '0x0a000000/8', 'fd00::/64/64', '1.2.3.4.5'),
  fc.string({ maxLength: 20 }).map((s) => `${s}/x`),
);

export const badIp: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('300.1.1.1', '1.2.3', '1.2.3.4/24', '::g', 'localhost', '1.2.3.4;id', ' ', '1.2.3.4\0'),
  fc.string({ maxLength: 12 }).map((s) => `${s}:::x`),
);

/**
 * Network names Docker refuses: blank ones (libnetwork config.IsValidName) and, our one
 * extra rule, names over 255 characters. Every other name (spaces, metacharacters, '..')
 * is a valid network name, as in Docker, and must round-trip as data.
 */
export const badNetworkName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '\t', ' \n ', '\u00a0', 'x'.repeat(256), 'x'.repeat(5000)),
  fc.string({ minLength: 256, maxLength: 400 }),
);

/** References that exist nowhere and cannot prefix-match a hex ID or equal a name. */
export const missingRef: fc.Arbitrary<string> = fc.stringMatching(/^[g-z][a-z0-9]{0,10}$/).map((s) => `fzmissing${s}`);

export const notString = fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string(), { maxKeys: 3 }));
export const notBool = fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.array(fc.boolean(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.boolean(), { maxKeys: 2 }));
export const notObject = fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.boolean(), fc.array(fc.anything(), { maxLength: 3 }));
export const notStringArray = fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.boolean(), fc.dictionary(fc.string({ maxLength: 5 }), fc.string(), { maxKeys: 2 }), fc.array(fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)), { minLength: 1, maxLength: 3 }));

/** Bodies that are not JSON at all, or not an object. */
export const malformedJson: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('{', '[', '{"Name":', '{"Name": "a",}', "{'Name': 'a'}", 'NaN', 'undefined', '{"a":1}{"b":2}', '\0', '\u{feff}{}', '{"Name":"a\\u0000"',
    `${'['.repeat(20_000)}${']'.repeat(20_000)}`, `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`),
  fc.string({ maxLength: 50 }).filter((s) => s.trim() !== '' && !isJson(s)),
  fc.jsonValue({ maxDepth: 2 }).filter((v) => v !== null && (typeof v !== 'object' || Array.isArray(v))).map((v) => JSON.stringify(v)),
);

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/** One field of `base` replaced by a value of the wrong type. */
export function withWrongField(base: Record<string, unknown>, fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(...Object.entries(fields).map(([path, arb]) => arb.map((v) => setPath(structuredClone(base), path, v))));
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const parts = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = /^\d+$/.test(parts[parts.indexOf(p) + 1] ?? '') ? [] : {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
  return obj;
}

/** Query strings nobody meant: bogus keys, hostile values, broken encodings. */
export const bogusQuery: fc.Arbitrary<string> = fc.oneof(
  fc.constant(''),
  fc.constantFrom('?%', '?%zz', '?a=%ff%fe', '?&&&=', '?filters=', '?filters={', '?filters=%7B%22x%22%3A1%7D', '?force=maybe', '?all=2', '?t=-1', '?t=1e99', '?name=..%2F..%2Fetc',
    '?filters=%7B%22label%22%3A%22x%22%7D', '?filters=' + encodeURIComponent('{"dangling":["maybe"]}'), '?a=' + 'x'.repeat(10_000)),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }).map((d) => `?${new URLSearchParams(d).toString()}`),
);
