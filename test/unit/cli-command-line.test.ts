import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine, type Command, type Plan } from '../../src/cli/command-line.js';
import { buildNetworkCreateRequest } from '../../src/cli/network-create-request.js';
import { exitCodeFor } from '../../src/cli/exit-code.js';
import { helpText } from '../../src/cli/help.js';
import { nsenterArgs } from '../../src/cli/exec-command.js';
import { DEFAULT_PATH } from '../../src/model/sandbox-env.js';
import { portLines } from '../../src/cli/sandbox-commands.js';
import { SwitchyardError } from '../../src/errors.js';

const parse = (argv: string[], env: Record<string, string> = {}): Plan => parseCommandLine(argv, { env });
const command = (argv: string[], env: Record<string, string> = {}): Command => parse(argv, env).command;

function usageError(argv: string[], pattern: RegExp): void {
  assert.throws(() => parse(argv), (err: SwitchyardError) => {
    assert.equal(err.kind, 'invalid');
    assert.match(err.message, pattern);
    assert.equal(exitCodeFor(err), 2, 'usage errors exit with 2');
    return true;
  });
}

test('global -H/--host and SWITCHYARD_HOST choose the daemon; -H wins', () => {
  assert.equal(parse(['ps']).host, 'unix:///run/switchyard/switchyard.sock');
  assert.equal(parse(['ps'], { SWITCHYARD_HOST: 'unix:///e.sock' }).host, 'unix:///e.sock');
  assert.equal(parse(['-H', 'unix:///a.sock', 'ps'], { SWITCHYARD_HOST: 'unix:///e.sock' }).host, 'unix:///a.sock');
  assert.equal(parse(['--host=unix:///b.sock', 'ps']).host, 'unix:///b.sock');
  assert.equal(parse(['-Hunix:///c.sock', 'ps']).host, 'unix:///c.sock');
  usageError(['-H', 'tcp://1.2.3.4:2375', 'ps'], /invalid host "tcp:\/\/1\.2\.3\.4:2375"/);
  usageError(['--bogus', 'ps'], /unknown flag: --bogus/);
});

test('no command, --help and help topics', () => {
  assert.deepEqual(command([]), { name: 'help', topic: '' });
  assert.deepEqual(command(['--help']), { name: 'help', topic: '' });
  assert.deepEqual(command(['network']), { name: 'help', topic: 'network' });
  assert.deepEqual(command(['network', 'create', '--help']), { name: 'help', topic: 'network create' });
  assert.deepEqual(command(['-v']), { name: 'version' });
  assert.match(helpText('network create'), /--subnet CIDR/);
  assert.match(helpText(''), /network connect/);
  usageError(['frobnicate'], /unknown command "frobnicate"/);
  usageError(['network', 'frob'], /unknown command "network frob"/);
});

test('daemon hands every remaining argument over; a global -H becomes the daemon\'s --host', () => {
  assert.deepEqual(command(['daemon', '--data-root', '/x', '-H', 'unix:///s.sock']), {
    name: 'daemon',
    args: ['--data-root', '/x', '-H', 'unix:///s.sock'],
  });
  assert.deepEqual(command(['-H', 'unix:///g.sock', 'daemon', '--mtu', '1400']), {
    name: 'daemon',
    args: ['--host', 'unix:///g.sock', '--mtu', '1400'],
  });
  assert.deepEqual(command(['-H', 'unix:///g.sock', 'daemon', '--host=unix:///own.sock']), {
    name: 'daemon',
    args: ['--host=unix:///own.sock'],
  });
  assert.deepEqual(command(['daemon'], { SWITCHYARD_HOST: 'unix:///env.sock' }), { name: 'daemon', args: [] });
});

test('network create builds the request the docker CLI sends', () => {
  const c = command([
    'network', 'create', '-d', 'bridge', '--subnet', '10.1.0.0/16', '--subnet=fd00:1::/64', '--ip-range', '10.1.2.0/24',
    '--gateway', '10.1.0.1', '--gateway', 'fd00:1::1', '--aux-address', 'host1=10.1.0.5', '--ipv6', '--internal',
    '-o', 'com.docker.network.bridge.name=br-x', '--opt', 'com.docker.network.driver.mtu=1400', '--label', 'a=b',
    '--label', 'flag', 'mynet',
  ]);
  assert.equal(c.name, 'network create');
  if (c.name !== 'network create') return;
  assert.deepEqual(c.request, {
    Name: 'mynet',
    Driver: 'bridge',
    EnableIPv6: true,
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: [
        { Subnet: '10.1.0.0/16', IPRange: '10.1.2.0/24', Gateway: '10.1.0.1', AuxiliaryAddresses: { host1: '10.1.0.5' } },
        { Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1' },
      ],
    },
    Internal: true,
    Attachable: false,
    Ingress: false,
    ConfigOnly: false,
    Options: { 'com.docker.network.bridge.name': 'br-x', 'com.docker.network.driver.mtu': '1400' },
    Labels: { a: 'b', flag: '' },
  });
});

test('network create: --ipv4=false is sent, an unset --ipv6 is not; IPAM consolidation errors are docker\'s', () => {
  const c = command(['network', 'create', '--ipv4=false', '--ipv6', 'v6only']);
  assert.ok(c.name === 'network create');
  if (c.name !== 'network create') return;
  assert.equal(c.request.EnableIPv4, false);
  assert.equal(c.request.EnableIPv6, true);
  const plain = command(['network', 'create', 'n']);
  if (plain.name !== 'network create') return assert.fail();
  assert.ok(!('EnableIPv4' in plain.request) && !('EnableIPv6' in plain.request));

  usageError(['network', 'create', '--gateway', '10.0.0.1', 'n'], /every ip-range or gateway must have a corresponding subnet/);
  usageError(['network', 'create', '--subnet', '10.0.0.0/24', '--gateway', '10.9.0.1', 'n'], /no matching subnet for gateway 10\.9\.0\.1/);
  usageError(['network', 'create', '--subnet', '10.0.0.0/24', '--ip-range', '10.1.0.0/25', 'n'], /no matching subnet for range/);
  usageError(['network', 'create', '--subnet', '10.0.0.0/16', '--subnet', '10.0.1.0/24', 'n'], /multiple overlapping subnet/);
  usageError(['network', 'create', '--subnet', '10.0.0.0/24', '--aux-address', 'bad', 'n'], /expected NAME=IP/);
  usageError(['network', 'create', '--ipv6=maybe', 'n'], /invalid argument "maybe" for "--ipv6"/);
  usageError(['network', 'create'], /requires exactly 1 argument/);
  usageError(['network', 'create', 'a', 'b'], /requires exactly 1 argument/);
  usageError(['network', 'create', '--subnet'], /flag needs an argument: --subnet/);
});

test('buildNetworkCreateRequest defaults like docker: bridge driver, default IPAM, maps always present', () => {
  const req = buildNetworkCreateRequest({
    name: 'n', subnets: [], ipRanges: [], gateways: [], auxAddresses: [], internal: false, attachable: true,
    ingress: false, options: [], labels: [], ipamOptions: ['k=v'],
  });
  assert.equal(JSON.stringify(req),
    '{"Name":"n","Driver":"bridge","IPAM":{"Driver":"default","Options":{"k":"v"},"Config":[]},"Internal":false,' +
    '"Attachable":true,"Ingress":false,"ConfigOnly":false,"Options":{},"Labels":{}}');
});

test('network ls/inspect/rm/prune/connect/disconnect flags', () => {
  assert.deepEqual(command(['network', 'ls', '-q', '--filter', 'name=a', '--filter', 'driver=bridge', '--format', '{{.Name}}']), {
    name: 'network ls', quiet: true, filters: ['name=a', 'driver=bridge'], noTrunc: false, format: '{{.Name}}',
  });
  assert.deepEqual(command(['network', 'list']), { name: 'network ls', quiet: false, filters: [], noTrunc: false });
  assert.deepEqual(command(['network', 'inspect', '-f', '{{.Id}}', 'a', 'b']), { name: 'network inspect', refs: ['a', 'b'], format: '{{.Id}}' });
  assert.deepEqual(command(['network', 'rm', 'a', 'b']), { name: 'network rm', refs: ['a', 'b'], force: false });
  assert.deepEqual(command(['network', 'remove', '-f', 'a']), { name: 'network rm', refs: ['a'], force: true });
  assert.deepEqual(command(['network', 'prune', '-f', '--filter', 'until=24h']), { name: 'network prune', force: true, filters: ['until=24h'] });
  assert.deepEqual(command(['network', 'connect', '--ip', '10.0.0.5', '--alias', 'x', '--alias', 'y', 'net', 'sbx']), {
    name: 'network connect',
    network: 'net',
    sandbox: 'sbx',
    endpoint: { IPAMConfig: { IPv4Address: '10.0.0.5' }, Links: null, Aliases: ['x', 'y'], DriverOpts: {} },
  });
  assert.deepEqual(command(['network', 'disconnect', '-f', 'net', 'sbx']), { name: 'network disconnect', network: 'net', sandbox: 'sbx', force: true });
  usageError(['network', 'connect', 'net'], /requires exactly 2 arguments/);
  usageError(['network', 'ls', 'extra'], /requires exactly 0 arguments/);
});

test('run: flags end at the command, with or without --', () => {
  const c = command(['run', '-d', '--name', 'web', '--network', 'netA', '--network-alias', 'websvc', '-p', '8080:80',
    '-p127.0.0.1:53:53/udp', '--', 'httpd', '-f', '-p', '80']);
  assert.deepEqual(c, {
    name: 'run',
    detach: true,
    removeAfter: false,
    request: {
      Cmd: ['httpd', '-f', '-p', '80'],
      Name: 'web',
      NetworkMode: 'netA',
      EndpointsConfig: { netA: { Aliases: ['websvc'] } },
      PortSpecs: ['8080:80', '127.0.0.1:53:53/udp'],
      AutoRemove: false,
    },
  });
  const bare = command(['run', '--rm', '-e', 'A=1', '-e', 'FROM_ENV', '-e', 'UNSET', 'sleep', '10', '--name', 'x'], { FROM_ENV: 'v' });
  assert.deepEqual(bare, {
    name: 'run',
    detach: false,
    removeAfter: true,
    request: { Cmd: ['sleep', '10', '--name', 'x'], Env: ['A=1', 'FROM_ENV=v'], AutoRemove: false },
  });
});

test('run: every contract flag reaches the request', () => {
  const c = command(['run', '-d', '--rm', '--hostname', 'h1', '--net', 'user', '--network', 'extra', '--ip', '10.0.0.9',
    '--ip6', 'fd00::9', '--mac-address', '02:00:00:00:00:09', '-P', '--expose', '80', '--expose=90/udp', '--dns', '1.1.1.1',
    '--dns-search', 'example.org', '--dns-option', 'ndots:2', '--dns-opt', 'rotate', '--link', 'db:database', '--', 'true']);
  if (c.name !== 'run') return assert.fail();
  assert.equal(c.removeAfter, false, '-d --rm leaves removal to the daemon');
  assert.deepEqual(c.request, {
    Cmd: ['true'],
    Hostname: 'h1',
    NetworkMode: 'user',
    EndpointsConfig: {
      user: { IPAMConfig: { IPv4Address: '10.0.0.9', IPv6Address: 'fd00::9' }, MacAddress: '02:00:00:00:00:09' },
      extra: {},
    },
    MacAddress: '02:00:00:00:00:09',
    PublishAll: true,
    Expose: ['80', '90/udp'],
    Dns: ['1.1.1.1'],
    DnsSearch: ['example.org'],
    DnsOptions: ['ndots:2', 'rotate'],
    Links: ['db:database'],
    AutoRemove: true,
  });
  assert.deepEqual((command(['run', '-h', 'myhost', 'true']) as { request: { Hostname: string } }).request.Hostname, 'myhost');
  assert.deepEqual(command(['run', '-dP', 'true']), { name: 'run', detach: true, removeAfter: false, request: { Cmd: ['true'], PublishAll: true, AutoRemove: false } });
  usageError(['run', '-d'], /requires a command to run/);
  usageError(['run', '--nope', 'x'], /unknown flag: --nope/);
});

test('exec: the first positional is the sandbox, the rest is the command', () => {
  assert.deepEqual(command(['exec', '-it', 'fa', '--', 'ls', '-l']), {
    name: 'exec', sandbox: 'fa', cmd: ['ls', '-l'], interactive: true, tty: true, env: [],
  });
  assert.deepEqual(command(['exec', 'fa', 'nslookup', 'fw', '127.0.0.11']), {
    name: 'exec', sandbox: 'fa', cmd: ['nslookup', 'fw', '127.0.0.11'], interactive: false, tty: false, env: [],
  });
  assert.deepEqual(command(['exec', '-e', 'X=1', 'fa', 'env']), {
    name: 'exec', sandbox: 'fa', cmd: ['env'], interactive: false, tty: false, env: ['X=1'],
  });
  usageError(['exec', 'fa'], /requires a command to run/);
  usageError(['exec'], /requires exactly 1 argument/);
});

test('ps, inspect, logs, stop, start, rm, port, firewall reload, version, info', () => {
  assert.deepEqual(command(['ps', '-a', '-q']), { name: 'ps', all: true, quiet: true, noTrunc: false });
  assert.deepEqual(command(['ps', '--format', 'json']), { name: 'ps', all: false, quiet: false, noTrunc: false, format: 'json' });
  assert.deepEqual(command(['inspect', '-f', '{{.State.Pid}}', 'fa']), { name: 'inspect', refs: ['fa'], format: '{{.State.Pid}}' });
  assert.deepEqual(command(['inspect', '--type', 'network', 'n']), { name: 'inspect', refs: ['n'], type: 'network' });
  assert.deepEqual(command(['logs', '-f', 'fa']), { name: 'logs', sandbox: 'fa', follow: true });
  assert.deepEqual(command(['stop', '-t', '2', 'a', 'b']), { name: 'stop', refs: ['a', 'b'], timeout: 2 });
  assert.deepEqual(command(['start', 'a']), { name: 'start', refs: ['a'] });
  assert.deepEqual(command(['rm', '-f', 'a', 'b']), { name: 'rm', refs: ['a', 'b'], force: true });
  assert.deepEqual(command(['port', 'fw']), { name: 'port', sandbox: 'fw' });
  assert.deepEqual(command(['port', 'fw', '80/tcp']), { name: 'port', sandbox: 'fw', privatePort: '80/tcp' });
  assert.deepEqual(command(['firewall', 'reload']), { name: 'firewall reload' });
  assert.deepEqual(command(['version', '--format', '{{.Server.Version}}']), { name: 'version', format: '{{.Server.Version}}' });
  assert.deepEqual(command(['info']), { name: 'info' });
  usageError(['stop', '-t', 'soon', 'a'], /invalid argument "soon" for "--time"/);
  usageError(['inspect', '--type', 'volume', 'x'], /not a valid value for --type/);
});

test('exit codes: usage 2, daemon errors 1, run failures before the command 125', () => {
  assert.equal(exitCodeFor(new SwitchyardError('not-found', 'NETWORK_NOT_FOUND', 'x')), 1);
  assert.equal(exitCodeFor(new SwitchyardError('unavailable', 'DAEMON_UNREACHABLE', 'x')), 1);
  assert.equal(exitCodeFor(new SwitchyardError('conflict', 'X', 'x'), { command: 'run' }), 125);
  assert.equal(exitCodeFor(new Error('boom')), 1);
});

test('exec enters net, uts, mount and PID namespaces; host mode has no netns to enter; --pid host no PID namespace', () => {
  const base = { State: { Pid: 42 }, Config: { Env: ['A=1'] } } as never;
  const caps = '-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap';
  const limited = ['/usr/bin/setpriv', '--bounding-set', caps, '--inh-caps', caps, '--', '/usr/bin/env', '-i', `PATH=${DEFAULT_PATH}`, 'A=1'];
  assert.deepEqual(
    nsenterArgs({ ...(base as object), HostConfig: { NetworkMode: 'bridge' }, NetworkSettings: { SandboxKey: '/run/x' } } as never, ['ip', 'a']),
    ['--target', '42', '--net', '--uts', '--mount', '--pid=/proc/42/ns/pid_for_children', '--', ...limited, 'ip', 'a'],
  );
  assert.deepEqual(
    nsenterArgs({ ...(base as object), HostConfig: { NetworkMode: 'host' }, NetworkSettings: { SandboxKey: '' } } as never, ['hostname']),
    ['--target', '42', '--uts', '--mount', '--pid=/proc/42/ns/pid_for_children', '--', ...limited, 'hostname'],
  );
  // The sandbox's own set: --cap-add, --privileged (no setpriv at all), -e after the sandbox's Env.
  const added = nsenterArgs({ ...(base as object), HostConfig: { NetworkMode: 'bridge', CapAdd: ['NET_ADMIN'], CapDrop: ['ALL'], PidMode: 'host' }, NetworkSettings: { SandboxKey: '/run/x' } } as never, ['ip', 'a'], ['A=2']);
  assert.deepEqual(added, ['--target', '42', '--net', '--uts', '--mount', '--', '/usr/bin/setpriv', '--bounding-set', '-all,+net_admin', '--inh-caps', '-all,+net_admin', '--', '/usr/bin/env', '-i', `PATH=${DEFAULT_PATH}`, 'A=2', 'ip', 'a']);
  const privileged = nsenterArgs({ ...(base as object), HostConfig: { NetworkMode: 'bridge', Privileged: true }, NetworkSettings: { SandboxKey: '/run/x' } } as never, ['id']);
  assert.deepEqual(privileged, ['--target', '42', '--net', '--uts', '--mount', '--pid=/proc/42/ns/pid_for_children', '--', '/usr/bin/env', '-i', `PATH=${DEFAULT_PATH}`, 'A=1', 'id']);
});

test('port prints docker\'s format, IPv6 host addresses in brackets', () => {
  const ports = {
    '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }, { HostIp: '::', HostPort: '8080' }],
    '443/tcp': null,
    '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }],
  };
  assert.equal(portLines('fw', ports, undefined), '53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n');
  assert.equal(portLines('fw', ports, '80'), '0.0.0.0:8080\n[::]:8080\n');
  assert.throws(() => portLines('fw', ports, '443'), /No public port '443\/tcp' published for fw/);
});
