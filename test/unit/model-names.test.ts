import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import {
  isAmbiguousShortId, isFullId, newId, resolveRef, shortId, validateAlias, validateHostname, validateNetworkName, validateSandboxName,
} from '../../src/model/names.js';

const rejects = (fn: () => unknown, kind: string, code: string, message?: string) =>
  assert.throws(fn, (e: unknown) => e instanceof SwitchyardError && e.kind === kind && e.code === code && (message === undefined || e.message === message));

test('sandbox names follow Docker\'s container name rule', () => {
  for (const ok of ['web', '/web', 'a1', 'my_app.v2-x', 'A'.repeat(64)]) assert.equal(validateSandboxName(ok), ok.replace(/^\//, ''));
  for (const bad of ['', 'a', '_web', '-web', 'web/x', 'a b', 'a;rm -rf', '../x', 'A'.repeat(65), 'ünï']) {
    rejects(() => validateSandboxName(bad), 'invalid', 'INVALID_NAME');
  }
});

test("network names follow Docker's rule: anything not blank (at most 255 characters)", () => {
  // Docker (libnetwork config.IsValidName) accepts every name that is not blank; a name is
  // data only, never a path, shell word or kernel name, so these are names like any other.
  for (const ok of ['n', 'my-net', 'a.b_c', '1x', 'my net', ' padded ', '$(x)', 'a;b', '-x', '..', '\u00fcn\u00ef', 'x'.repeat(255)]) assert.equal(validateNetworkName(ok), ok);
  rejects(() => validateNetworkName(''), 'invalid', 'INVALID_NAME', 'invalid name: name is empty');
  for (const bad of [' ', '\t', ' \n ', 'x'.repeat(256)]) rejects(() => validateNetworkName(bad), 'invalid', 'INVALID_NAME');
});

test('aliases and hostnames', () => {
  for (const ok of ['db', 'db.internal', 'my_db', 'x1-2', 'a'.repeat(63)]) assert.equal(validateAlias(ok), ok);
  for (const bad of ['', 'a..b', '.a', 'a.', '-a', 'a b', 'a/b', 'a'.repeat(64), `${'a.'.repeat(127)}ab`]) {
    rejects(() => validateAlias(bad, 'Aliases[0]'), 'invalid', 'INVALID_ALIAS');
  }
  for (const ok of ['host', 'web-1', 'a.example.com', '1abc', 'a'.repeat(63)]) assert.equal(validateHostname(ok), ok);
  for (const bad of ['', '-a', 'a-', 'a_b', 'a..b', 'a'.repeat(64), 'a b']) rejects(() => validateHostname(bad), 'invalid', 'INVALID_HOSTNAME');
});

test('IDs', () => {
  const bytes = new Uint8Array(32).map((_, i) => i * 7);
  const id = newId(bytes);
  assert.equal(id.length, 64);
  assert.ok(isFullId(id));
  assert.equal(id.slice(0, 6), '00070e');
  assert.equal(shortId(id), id.slice(0, 12));
  assert.ok(isAmbiguousShortId('123456789012abcd'));
  assert.ok(!isAmbiguousShortId('12345678901a'));
  assert.throws(() => newId(new Uint8Array(31)), SwitchyardError);
});

test('resolveRef: exact ID, then exact name, then unique ID prefix', () => {
  const items = [
    { id: 'abc111' + '0'.repeat(58), name: 'web' },
    { id: 'abc222' + '0'.repeat(58), name: 'abc111' }, // a name that looks like another's ID prefix
    { id: 'def333' + '0'.repeat(58), name: 'db' },
  ];
  assert.equal(resolveRef(items[0]!.id, items, 'network'), items[0]);
  assert.equal(resolveRef('web', items, 'network'), items[0]);
  assert.equal(resolveRef('abc111', items, 'network'), items[1], 'an exact name beats an ID prefix');
  assert.equal(resolveRef('def', items, 'network'), items[2]);
  assert.equal(resolveRef('DEF3', items, 'network'), items[2]);
  rejects(() => resolveRef('abc', items, 'network'), 'invalid', 'AMBIGUOUS_REFERENCE', '2 matches found based on ID prefix: network abc is ambiguous');
  rejects(() => resolveRef('nope', items, 'network'), 'not-found', 'NETWORK_NOT_FOUND', 'network nope not found');
  rejects(() => resolveRef('nope', items, 'container'), 'not-found', 'SANDBOX_NOT_FOUND', 'No such container: nope');
  assert.equal(resolveRef('/db', items, 'container'), items[2]);
  const dup = [...items, { id: 'fff' + '0'.repeat(61), name: 'web' }];
  rejects(() => resolveRef('web', dup, 'network'), 'invalid', 'AMBIGUOUS_REFERENCE', '2 matches found based on name: network web is ambiguous');
  rejects(() => resolveRef('', items, 'network'), 'invalid', 'INVALID_REFERENCE');
});
