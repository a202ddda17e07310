import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALL_CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES, capabilityMask, effectiveCapabilities, normalizeCapabilities, normalizeCapability, setprivCapList,
} from '../../src/model/capabilities.js';
import { SwitchyardError } from '../../src/errors.js';
import { commandArgv, commandEnv, DEFAULT_PATH } from '../../src/model/sandbox-env.js';

test("Docker's default set: 14 capabilities, no NET_ADMIN, SYS_ADMIN, SYS_MODULE, SYS_PTRACE", () => {
  const caps = effectiveCapabilities({});
  assert.equal(caps.length, 14);
  assert.deepEqual([...caps].sort(), [...DOCKER_DEFAULT_CAPABILITIES].sort());
  for (const c of ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_MODULE', 'CAP_SYS_PTRACE', 'CAP_SYS_RAWIO', 'CAP_BPF']) assert.ok(!caps.includes(c), c);
  // the mask /proc/PID/status shows for Docker's default set
  assert.equal(capabilityMask(caps), 0xa80425fbn);
});

test('names: with or without CAP_, any case; ALL; unknown refused naming the field', () => {
  assert.equal(normalizeCapability('net_admin', 'f'), 'CAP_NET_ADMIN');
  assert.equal(normalizeCapability('CAP_NET_ADMIN', 'f'), 'CAP_NET_ADMIN');
  assert.equal(normalizeCapability('Cap_Net_Admin', 'f'), 'CAP_NET_ADMIN');
  assert.equal(normalizeCapability('all', 'f'), 'ALL');
  assert.deepEqual(normalizeCapabilities(['kill', 'CAP_KILL'], 'CapAdd'), ['CAP_KILL']);
  assert.throws(() => normalizeCapabilities(['NET_WIZARD'], 'HostConfig.CapAdd'), (e: unknown) => e instanceof SwitchyardError && e.code === 'UNKNOWN_CAPABILITY' && e.field === 'HostConfig.CapAdd[0]');
});

test("add/drop as moby's TweakCapabilities: ALL in add, ALL in drop, privileged", () => {
  assert.ok(effectiveCapabilities({ capAdd: ['CAP_NET_ADMIN'] }).includes('CAP_NET_ADMIN'));
  assert.ok(!effectiveCapabilities({ capDrop: ['CAP_CHOWN'] }).includes('CAP_CHOWN'));
  assert.deepEqual(effectiveCapabilities({ capAdd: ['CAP_NET_ADMIN'], capDrop: ['ALL'] }), ['CAP_NET_ADMIN']);
  assert.deepEqual(effectiveCapabilities({ capDrop: ['ALL'] }), []);
  const all = effectiveCapabilities({ capAdd: ['ALL'], capDrop: ['CAP_SYS_ADMIN'] });
  assert.equal(all.length, ALL_CAPABILITIES.length - 1);
  assert.ok(!all.includes('CAP_SYS_ADMIN'));
  assert.deepEqual(effectiveCapabilities({ privileged: true, capDrop: ['ALL'] }), [...ALL_CAPABILITIES]);
  assert.equal(setprivCapList(['CAP_NET_ADMIN', 'CAP_KILL']), '-all,+net_admin,+kill');
  assert.equal(setprivCapList([]), '-all');
});

test('command environment: NAME=VALUE only (a bare NAME is dropped), Docker PATH default, later wins', () => {
  assert.deepEqual(commandEnv(['SECRET', 'A=1']), [`PATH=${DEFAULT_PATH}`, 'A=1']);
  assert.deepEqual(commandEnv(['PATH=/x', 'A=1'], ['A=2', 'B=']), ['PATH=/x', 'A=2', 'B=']);
  assert.deepEqual(commandArgv(['ls', '-l']), ['ls', '-l']);
  assert.deepEqual(commandArgv(['a=b', 'x']), ['/bin/sh', '-c', 'exec "$0" "$@"', 'a=b', 'x']);
});

test('sandbox fstab: /etc binds read-only first, own /proc, Docker read-only and masked paths that exist, covers last; fields escaped', async () => {
  const { renderSandboxFstab, fstabField } = await import('../../src/model/sandbox-mounts.js');
  const present = new Map<string, 'file' | 'dir'>([['/proc/sys', 'dir'], ['/proc/kcore', 'file'], ['/sys/firmware', 'dir']]);
  const text = renderSandboxFstab({ dir: '/var/lib/s y/sandboxes/x', ownProc: true, privileged: false, present, hiddenDirs: ['/var/lib/s y'], hiddenFiles: ['/etc/tls/key.pem'] });
  assert.deepEqual(text.trim().split('\n'), [
    '/var/lib/s\\040y/sandboxes/x/hosts /etc/hosts none bind,ro 0 0',
    '/var/lib/s\\040y/sandboxes/x/hostname /etc/hostname none bind,ro 0 0',
    '/var/lib/s\\040y/sandboxes/x/resolv.conf /etc/resolv.conf none bind,ro 0 0',
    'swy-proc /proc proc nosuid,nodev,noexec 0 0',
    '/proc/sys /proc/sys none bind,ro,nosuid,nodev,noexec 0 0',
    '/dev/null /proc/kcore none bind 0 0',
    'swy-masked /sys/firmware tmpfs ro,size=4k,nr_inodes=1 0 0',
    'switchyard-hidden /var/lib/s\\040y tmpfs ro,size=4k,nr_inodes=1,mode=0755 0 0',
    '/dev/null /etc/tls/key.pem none bind 0 0',
  ]);
  // --privileged --pid host: only the /etc binds and the covers
  const priv = renderSandboxFstab({ dir: '/d', ownProc: false, privileged: true, present, hiddenDirs: [], hiddenFiles: [] });
  assert.equal(priv.trim().split('\n').length, 3);
  assert.equal(fstabField('a\\b\tc\nd'), 'a\\134b\\011c\\012d');
});
