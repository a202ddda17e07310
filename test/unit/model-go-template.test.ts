import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchyardError } from '../../src/errors.js';
import { alignTable, compileTemplate, goJson, renderFormat, renderTemplate } from '../../src/model/go-template.js';

const net = {
  ID: '7d86d31b1478', Name: 'my-net', Driver: 'bridge', Scope: 'local',
  IPAM: { Driver: 'default', Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] },
  Containers: { c1: { Name: 'web', IPv4Address: '172.18.0.2/16' }, c0: { Name: 'db', IPv4Address: '172.18.0.3/16' } },
  Labels: { a: '1', b: '<x>' },
  Internal: false,
  Aliases: ['x', 'y'],
  Label(this: { Labels: Record<string, string> }, key: string) { return this.Labels[key] ?? ''; },
};

test('fields, nesting and printing like Go', () => {
  const cases: [string, string][] = [
    ['{{.Name}}', 'my-net'],
    ['{{ .ID }} {{.Driver}}', '7d86d31b1478 bridge'],
    ['{{.IPAM.Driver}}', 'default'],
    ['{{.Internal}}', 'false'],
    ['{{.Aliases}}', '[x y]'],
    ['{{.Labels}}', 'map[a:1 b:<x>]'],
    ['{{.Missing}}', '<no value>'],
    ['{{.Labels.a}}', '1'],
    ['{{index .Labels "b"}}', '<x>'],
    ['{{.Label "a"}}', '1'],
    ['{{json .Labels}}', '{"a":"1","b":"\\u003cx\\u003e"}'],
    ['{{json .Aliases}}', '["x","y"]'],
    ['{{json .Missing}}', 'null'],
    ['{{join .Aliases ","}}', 'x,y'],
    ['{{.Name | upper}}', 'MY-NET'],
    ['{{upper .Name | lower}}', 'my-net'],
    ['{{len .Containers}}', '2'],
    ['{{range .IPAM.Config}}{{.Subnet}} via {{.Gateway}}{{end}}', '172.18.0.0/16 via 172.18.0.1'],
    ['{{range $id, $c := .Containers}}{{$id}}={{$c.Name}};{{end}}', 'c0=db;c1=web;'],
    ['{{range .Aliases}}[{{.}}]{{else}}none{{end}}', '[x][y]'],
    ['{{range .Nothing}}x{{else}}none{{end}}', 'none'],
    ['{{if .Internal}}yes{{else}}no{{end}}', 'no'],
    ['{{if .Labels}}has labels{{end}}', 'has labels'],
    ['{{range .Aliases}}{{$.Name}}:{{.}} {{end}}', 'my-net:x my-net:y '],
    ['a  {{- .Name -}}  b', 'amy-netb'],
    ['{{/* a comment */}}ok', 'ok'],
    ['{{truncate .ID 4}}', '7d86'],
  ];
  for (const [tpl, want] of cases) {
    assert.equal(renderTemplate(tpl, net), want, tpl);
  }
  assert.equal(renderTemplate('{{json .}}', { a: 1, f: () => 1 }), '{"a":1}');
  assert.equal(goJson(new Map([['k', new Set([1])]])), '{"k":[1]}');
});

test('template errors are invalid INVALID_FORMAT', () => {
  for (const bad of ['{{.Name', '{{range .Aliases}}x', '{{end}}', '{{nosuch .Name}}', '{{$x}}', '{{"unterminated}}', '{{}}', '{{else}}']) {
    assert.throws(() => renderTemplate(bad, net), (e: unknown) => e instanceof SwitchyardError && e.kind === 'invalid' && e.code === 'INVALID_FORMAT', bad);
  }
  assert.ok(compileTemplate('{{.A}}').nodes.length === 1);
});

test('--format: one line per item, json keyword, \\t escapes', () => {
  const items = [net, { ...net, Name: 'other', ID: 'aaaaaaaaaaaa' }];
  assert.equal(renderFormat('{{.Name}}', items), 'my-net\nother\n');
  assert.equal(renderFormat('{{.ID}}\\t{{.Name}}', items), '7d86d31b1478\tmy-net\naaaaaaaaaaaa\tother\n');
  assert.equal(renderFormat('json', [{ Name: 'a' }]), '{"Name":"a"}\n');
  assert.equal(renderFormat('{{.Name}}', []), '');
});

test('table formats print a header and align like Go\'s tabwriter (minwidth 10, padding 3)', () => {
  const items = [
    { ID: '7d86d31b1478', Name: 'bridge', Driver: 'bridge', Scope: 'local' },
    { ID: 'aaaaaaaaaaaa', Name: 'a-much-longer-name', Driver: 'macvlan', Scope: 'local' },
  ];
  const out = renderFormat('table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}', items, { headers: { ID: 'NETWORK ID' } });
  assert.equal(out, [
    'NETWORK ID     NAME                 DRIVER    SCOPE',
    '7d86d31b1478   bridge               bridge    local',
    'aaaaaaaaaaaa   a-much-longer-name   macvlan   local',
    '',
  ].join('\n'));
  assert.equal(renderFormat('table {{.CreatedAt}}\\t{{json .Labels}}x', [{ CreatedAt: 'now', Labels: {} }]), 'CREATED AT   x\nnow          {}x\n');
  assert.equal(renderFormat('table {{.Name}}', []), 'NAME\n');
  assert.equal(alignTable('a\tb\nccc\td'), 'a         b\nccc       d');
});

test('a field chain after a parenthesised pipeline', () => {
  const data = { NetworkSettings: { Networks: { netA: { IPAddress: '10.0.0.2' } } }, IPAM: { Config: [{ Gateway: '10.0.0.1' }] } };
  assert.equal(renderTemplate('{{(index .NetworkSettings.Networks "netA").IPAddress}}', data), '10.0.0.2');
  assert.equal(renderTemplate('{{(index .IPAM.Config 0).Gateway}}', data), '10.0.0.1');
});
