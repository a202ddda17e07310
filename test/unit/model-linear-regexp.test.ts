/**
 * The filters' regular expressions run in linear time (model/linear-regexp.ts) and agree with
 * RegExp on the syntax they share; the audit's hostile pattern (M2) answers at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileLinear } from '../../src/model/linear-regexp.js';
import { matchNetwork, parseFilters } from '../../src/model/filters.js';

const m = (pattern: string, text: string): boolean | undefined => compileLinear(pattern)?.test(text);

test('matches like regexp.MatchString (unanchored) on the common syntax', () => {
  assert.equal(m('o', 'front'), true);
  assert.equal(m('^b', 'bridge'), true);
  assert.equal(m('^b', 'abridge'), false);
  assert.equal(m('end$', 'back-end'), true);
  assert.equal(m('^$', ''), true);
  assert.equal(m('a|b', 'xbx'), true);
  assert.equal(m('^(ab)+$', 'ababab'), true);
  assert.equal(m('^(ab)+$', 'ababa'), false);
  assert.equal(m('^a{2,3}$', 'aaa'), true);
  assert.equal(m('^a{2,3}$', 'aaaa'), false);
  assert.equal(m('^a{2}$', 'aa'), true);
  assert.equal(m('^a{2,}$', 'aaaaa'), true);
  assert.equal(m('^[a-c]+\\d*$', 'abc123'), true);
  assert.equal(m('^[^a-c]+$', 'xyz'), true);
  assert.equal(m('^[^a-c]+$', 'xaz'), false);
  assert.equal(m('\\.', 'a.b'), true);
  assert.equal(m('\\.', 'ab'), false);
  assert.equal(m('^[\\w-]+$', 'back-end_1'), true);
  assert.equal(m('x{', 'x{'), true, 'a { that starts no repeat is a literal');
  assert.equal(m('^(?:a|b)*c$', 'ababc'), true);
  assert.equal(m('(a*)*b', 'aaab'), true);
  assert.equal(m('a.c', 'a\nc'), false, '. does not match a newline');
});

test('invalid or unsupported patterns do not compile (the filter then matches only exactly)', () => {
  for (const bad of ['(', ')', '[', 'a**', '*a', '+', '(?i)a', '\\b', '(?P<n>a)', '[[:alpha:]]', 'a{5,2}', 'x'.repeat(1001)]) {
    assert.equal(compileLinear(bad), undefined, bad);
  }
  assert.deepEqual(
    [{ id: 'i', name: '(', driver: 'bridge', scope: 'local', labels: {}, builtin: false }].filter((n) => matchNetwork(parseFilters('{"name":["("]}'), n)).map((n) => n.name),
    ['('],
    'an invalid pattern still matches its exact name',
  );
});

test('agrees with RegExp on random patterns of the shared syntax', () => {
  const atom = fc.constantFrom('a', 'b', '.', '[ab]', '[^a]', '\\d', '(a|b)', '(ab)', '(?:b|)');
  const quant = fc.constantFrom('', '*', '+', '?', '{2}', '{1,2}');
  const pattern = fc
    .tuple(fc.boolean(), fc.array(fc.tuple(atom, quant), { minLength: 1, maxLength: 5 }), fc.boolean())
    .map(([bol, parts, eol]) => `${bol ? '^' : ''}${parts.map(([a, q]) => a + q).join('')}${eol ? '$' : ''}`);
  const text = fc.stringMatching(/^[ab1\n]{0,8}$/);
  fc.assert(
    fc.property(pattern, text, (p, t) => {
      assert.equal(m(p, t), new RegExp(p).test(t), `${p} on ${JSON.stringify(t)}`);
    }),
    { numRuns: 3000 },
  );
});

test('M2: the audit\'s hostile patterns answer at once (V8\'s backtracking engine takes seconds)', () => {
  const id = 'a'.repeat(64);
  const net = { id, name: 'a'.repeat(64), driver: 'bridge', scope: 'local', labels: {}, builtin: false };
  for (const hostile of ['([0-9a-f]+)+z', '(a+)+z', '(a|a)*z', '(a*)*z', '((a+)+)+$z', '(.*){1,32}z']) {
    const filters = parseFilters(JSON.stringify({ id: { [hostile]: true }, name: { [hostile]: true } }));
    const started = performance.now();
    assert.equal(matchNetwork(filters, net), false);
    const ms = performance.now() - started;
    assert.ok(ms < 100, `${hostile}: ${ms.toFixed(1)} ms`);
  }
});

test('control: the same pattern on V8 RegExp backtracks (what the fix avoids)', () => {
  // 24 characters keep the control short (~10^7 steps); 64 would run for ages.
  const started = performance.now();
  assert.equal(/([0-9a-f]+)+z/.test('a'.repeat(24)), false);
  const backtracking = performance.now() - started;
  const linearStart = performance.now();
  assert.equal(compileLinear('([0-9a-f]+)+z')!.test('a'.repeat(24)), false);
  const linear = performance.now() - linearStart;
  assert.ok(backtracking > 20 * linear, `backtracking ${backtracking.toFixed(1)} ms vs linear ${linear.toFixed(2)} ms`);
});
