/**
 * kernel/nftables.ts against the real kernel, in a throwaway namespace. Needs root.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { Nft } from '../../src/kernel/nftables.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { assertNoLeaks, inNs, makeNs, removeNs, sh } from '../helpers/netns.js';

before(async () => {
  await warmThreadpool();
});

test('a context opened for a namespace changes that namespace only, whatever thread namespace runs it later', () => {
  const ns = makeNs('fwnft');
  const nft = Nft.open(ns.path);
  try {
    nft.run('add table inet swy_nft_probe\nadd chain inet swy_nft_probe c');
    assert.match(inNs(ns.name, 'nft', ['list', 'tables']).stdout, /table inet swy_nft_probe/);
    // Reading the machine's own ruleset is harmless; it must not have our probe table.
    assert.doesNotMatch(sh('nft', ['list', 'tables']).stdout, /swy_nft_probe/);
    assert.match(nft.list('tables'), /table inet swy_nft_probe/);
    const json = nft.listJson('tables');
    assert.ok(json.nftables.some((o) => (o.table as { name?: string } | undefined)?.name === 'swy_nft_probe'));
    // The JSON flag is switched back off after listJson.
    assert.match(nft.list('table inet swy_nft_probe'), /^table inet swy_nft_probe \{/);
  } finally {
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});

test('a failing batch applies nothing and reports nft\'s own error text', () => {
  const ns = makeNs('fwnft');
  const nft = Nft.open(ns.path);
  try {
    assert.throws(
      () => nft.run('add table inet swy_a\nadd chain inet swy_a c\nadd rule inet swy_a c bogus_keyword drop'),
      (e: unknown) => e instanceof SwitchyardError && e.code === 'NFT_FAILED' && e.kind === 'internal' && /syntax error/.test(e.message),
    );
    // Semantic (kernel-side) failure in the middle of a batch: also all-or-nothing.
    assert.throws(() => nft.run('add table inet swy_b\ndelete chain inet swy_b nochain'), /No such file or directory/);
    assert.equal(inNs(ns.name, 'nft', ['list', 'ruleset']).stdout.trim(), '');
    // The context is still usable after errors, and its buffers were rewound.
    assert.equal(nft.run('add table inet swy_c'), '');
    assert.equal(nft.list('tables').trim(), 'table inet swy_c');
  } finally {
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});

test('close is idempotent and a closed context refuses work', () => {
  const ns = makeNs('fwnft');
  const nft = Nft.open(ns.path);
  nft.close();
  nft.close();
  assert.throws(() => nft.run('list tables'), { code: 'NFT_CLOSED' });
  removeNs(ns);
  assertNoLeaks([ns.name]);
});
