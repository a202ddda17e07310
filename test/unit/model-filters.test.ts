import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import {
  NETWORK_LIST_FILTERS, filtersToJson, matchNetwork, parseFilterFlags, parseFilters, parseTimestamp, pruneMatcher,
  validateFilterKeys, type FilterableNetwork,
} from '../../src/model/filters.js';

const invalidFilter = (message: string | RegExp) => (e: unknown) =>
  e instanceof SwitchyardError && e.kind === 'invalid' && e.code === 'INVALID_FILTER' && (typeof message === 'string' ? e.message === message : message.test(e.message));

const nets: FilterableNetwork[] = [
  { id: 'aaa111', name: 'bridge', driver: 'bridge', scope: 'local', labels: {}, builtin: true, endpointCount: 0 },
  { id: 'bbb222', name: 'front', driver: 'bridge', scope: 'local', labels: { env: 'prod', team: 'web' }, builtin: false, endpointCount: 2 },
  { id: 'ccc333', name: 'back-end', driver: 'macvlan', scope: 'local', labels: { env: 'dev' }, builtin: false, endpointCount: 0 },
  { id: 'ddd444', name: 'ovl', driver: 'overlay', scope: 'swarm', labels: {}, builtin: false, inUse: true },
];
const names = (json: string) => {
  const f = parseFilters(json, 'network');
  return nets.filter((n) => matchNetwork(f, n)).map((n) => n.name);
};

test('both JSON forms parse to the same filters', () => {
  assert.deepEqual(parseFilters('{"name":{"x":true,"y":true,"z":false}}', NETWORK_LIST_FILTERS), new Map([['name', ['x', 'y']]]));
  assert.deepEqual(parseFilters('{"name":["x","y"]}', NETWORK_LIST_FILTERS), new Map([['name', ['x', 'y']]]));
  assert.deepEqual(parseFilters(undefined, 'network'), new Map());
  assert.deepEqual(parseFilters('', 'network'), new Map());
  assert.throws(() => parseFilters('{"nmae":{"x":true}}', 'network'), invalidFilter("invalid filter 'nmae'"));
  assert.throws(() => parseFilters('{"until":["1h"]}', 'network'), invalidFilter("invalid filter 'until'"));
  assert.throws(() => parseFilters('{"name":"x"}', 'network'), invalidFilter(/list or a map/));
  assert.throws(() => parseFilters('not json', 'network'), invalidFilter(/not JSON/));
  assert.throws(() => parseFilters('{"type":["weird"]}', 'network'), invalidFilter("invalid filter: 'type'='weird'"));
  assert.throws(() => parseFilters('{"dangling":["maybe"]}', 'network'), invalidFilter("invalid filter 'dangling=maybe'"));
  // Unchecked parse, then a separate key check (the engine's two-step form).
  assert.throws(() => validateFilterKeys(parseFilters('{"driver":["x"]}'), 'prune'), invalidFilter("invalid filter 'driver'"));
  const flags = parseFilterFlags(['name=a', 'name=b', 'label=env=prod'], 'network');
  assert.deepEqual(flags, new Map([['name', ['a', 'b']], ['label', ['env=prod']]]));
  assert.equal(filtersToJson(flags), '{"name":{"a":true,"b":true},"label":{"env=prod":true}}');
  assert.throws(() => parseFilterFlags(['name'], 'network'), invalidFilter(/expected name=value/));
});

test('network matching', () => {
  assert.deepEqual(names('{}'), ['bridge', 'front', 'back-end', 'ovl']);
  assert.deepEqual(names('{"name":["front"]}'), ['front']);
  assert.deepEqual(names('{"name":["o"]}'), ['front', 'ovl'], 'name is a substring/regexp match');
  assert.deepEqual(names('{"name":["^b"]}'), ['bridge', 'back-end']);
  assert.deepEqual(names('{"name":["front","ovl"]}'), ['front', 'ovl'], 'values of one key are ORed');
  assert.deepEqual(names('{"id":["bbb"]}'), ['front']);
  assert.deepEqual(names('{"driver":["bridge"]}'), ['bridge', 'front']);
  assert.deepEqual(names('{"driver":["bri"]}'), [], 'driver is exact');
  assert.deepEqual(names('{"scope":["swarm"]}'), ['ovl']);
  assert.deepEqual(names('{"label":["env"]}'), ['front', 'back-end']);
  assert.deepEqual(names('{"label":["env=prod"]}'), ['front']);
  assert.deepEqual(names('{"label":["env=prod","team=db"]}'), [], 'labels are ANDed');
  assert.deepEqual(names('{"type":["builtin"]}'), ['bridge']);
  assert.deepEqual(names('{"type":["custom"]}'), ['front', 'back-end', 'ovl']);
  assert.deepEqual(names('{"dangling":["true"]}'), ['back-end']);
  assert.deepEqual(names('{"dangling":["0"]}'), ['bridge', 'front', 'ovl']);
  assert.deepEqual(names('{"driver":["bridge"],"label":["env"]}'), ['front'], 'keys are ANDed');
  assert.deepEqual(names('{"name":["("]}'), [], 'a bad regexp matches only exactly');
});

test('prune filters: until, label, label!', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  const f = (json: string) => pruneMatcher(parseFilters(json, 'prune'), now);
  const old = { labels: { keep: '1' }, createdMs: now - 48 * 3600_000 };
  const fresh = { labels: {}, createdMs: now - 60_000 };
  assert.deepEqual([f('{"until":["24h"]}')(old), f('{"until":["24h"]}')(fresh)], [true, false]);
  assert.deepEqual([f('{"label":["keep"]}')(old), f('{"label":["keep"]}')(fresh)], [true, false]);
  assert.deepEqual([f('{"label!":["keep"]}')(old), f('{"label!":["keep"]}')(fresh)], [false, true]);
  assert.deepEqual([f('{"label!":["keep=2"]}')(old)], [true]);
  assert.throws(() => f('{"until":["yesterday"]}'), invalidFilter(/until=yesterday/));
  assert.throws(() => parseFilters('{"until":["soon"]}', 'prune'), invalidFilter(/until=soon/));
  // matchNetwork handles the prune keys too, given the clock.
  const filters = parseFilters('{"until":["1h"]}', 'prune');
  const net = { ...nets[1]!, created: '2025-06-01T10:00:00Z' };
  assert.equal(matchNetwork(filters, net, now), true);
  assert.equal(matchNetwork(filters, { ...net, created: '2025-06-01T11:30:00Z' }, now), false);
  assert.throws(() => matchNetwork(filters, net), SwitchyardError);
});

test('timestamps as dockerd reads them', () => {
  const now = 1_700_000_000_000;
  assert.equal(parseTimestamp('10m', now), now - 600_000);
  assert.equal(parseTimestamp('1700000000', now), 1_700_000_000_000);
  assert.equal(parseTimestamp('1700000000.5', now), 1_700_000_000_500);
  assert.equal(parseTimestamp('2023-11-14', now), Date.parse('2023-11-14T00:00:00Z'));
  assert.equal(parseTimestamp('2023-11-14T22:13:20', now), Date.parse('2023-11-14T22:13:20Z'));
  assert.equal(parseTimestamp('2023-11-14T22:13:20+02:00', now), Date.parse('2023-11-14T20:13:20Z'));
  assert.equal(parseTimestamp('2023-11-14T22:13:20.123456789Z', now), Date.parse('2023-11-14T22:13:20.123Z'));
  for (const bad of ['', 'x', '2023-13-45', '12:00']) assert.throws(() => parseTimestamp(bad, now), SwitchyardError, bad);
});
