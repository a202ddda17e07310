/**
 * Podman 4.3 (Debian) for end-to-end tests of the netavark drop-in, with nothing of the
 * machine's Podman touched: private --root/--runroot/--tmpdir, a private containers.conf and
 * network config dir, `vfs` storage, and an image built locally from busybox-static (as
 * ../shared/anchors/10-rootfs.sh does; no registry). Podman runs inside the daemon's host
 * network namespace and a mount namespace of its own, where a private directory is mounted
 * over /run/containers/networks (rootful Podman 4.3 keeps its IPAM database there, whatever
 * its other paths). The root mount is made a slave there so that bind does not propagate
 * back, while /run/netns stays shared: the daemon must see the namespaces Podman makes.
 * Podman finds our netavark through CONTAINERS_HELPER_BINARY_DIR=<checkout>/libexec.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './daemon.js';

export const IMAGE = 'localhost/swy/busybox:1';
const NETRUN = '/run/containers/networks';

export const podmanPresent = (): boolean => spawnSync('podman', ['--version']).status === 0 && fs.existsSync('/bin/busybox');

export interface TestPodman {
  root: string;
  run: (args: string[], opts?: { allowFail?: boolean; timeoutMs?: number }) => SpawnSyncReturns<string>;
  cleanup: () => void;
}

function buildRootfs(dir: string): string {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'var/www', 'root']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\n');
  fs.writeFileSync(path.join(rootfs, 'var/www/index.html'), 'hello-switchyard\n');
  const tar = path.join(dir, 'rootfs.tar');
  const r = spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  fs.rmSync(rootfs, { recursive: true, force: true });
  return tar;
}

export function startPodman(hostNsPath: string, socket: string): TestPodman {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-podman-'));
  const p = (s: string) => path.join(root, s);
  for (const d of ['storage', 'runroot', 'tmp', 'netrun', 'networks']) fs.mkdirSync(p(d), { recursive: true });
  const madeNetrun = !fs.existsSync(NETRUN);
  fs.mkdirSync(NETRUN, { recursive: true });
  const libexec = path.join(REPO, 'libexec');
  fs.writeFileSync(p('containers.conf'), [
    '[containers]',
    'log_driver = "k8s-file"',
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    '[engine]',
    // conmon runs `podman container cleanup` when a container exits, and that process tears
    // the network down whenever it wins the race with `podman rm`. conmon passes it only
    // conmon_env_vars, not Podman's environment: without these the cleanup ran Debian's own
    // netavark, Switchyard never heard of that teardown, and the network stayed behind
    // (the intermittent failure of "removing the containers…" in test/e2e/netavark-podman).
    `helper_binaries_dir = ["${libexec}", "/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman"]`,
    `conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_HELPER_BINARY_DIR=${libexec}", "SWITCHYARD_NETAVARK_SOCKET=${socket}", "CONTAINERS_CONF=${p('containers.conf')}"]`,
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    'runtime = "runc"',
    '[network]',
    'network_backend = "netavark"',
    `network_config_dir = "${p('networks')}"`,
    '',
  ].join('\n'));
  const wrapper = p('podman.sh');
  fs.writeFileSync(wrapper, [
    '#!/bin/sh',
    'set -e',
    'mount --make-slave /',
    `mount --bind ${p('netrun')} ${NETRUN}`,
    `exec nsenter --net=${hostNsPath} -- env CONTAINERS_HELPER_BINARY_DIR=${libexec} SWITCHYARD_NETAVARK_SOCKET=${socket} CONTAINERS_CONF=${p('containers.conf')} \\`,
    `  podman --root ${p('storage')} --runroot ${p('runroot')} --tmpdir ${p('tmp')} --storage-driver vfs --network-config-dir ${p('networks')} \\`,
    '  --cgroup-manager cgroupfs --events-backend file --runtime runc "$@"',
    '',
  ].join('\n'), { mode: 0o755 });
  const run = (args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}) => {
    const r = spawnSync('unshare', ['-m', '--propagation', 'unchanged', wrapper, ...args], { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000 });
    if (!opts.allowFail && r.status !== 0) throw new Error(`podman ${args.join(' ')} → ${r.status ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  run(['import', buildRootfs(root), IMAGE]);
  return {
    root,
    run,
    cleanup: () => {
      const ids = run(['ps', '-aq'], { allowFail: true }).stdout.trim();
      if (ids) run(['rm', '-f', '-t', '0', ...ids.split('\n')], { allowFail: true });
      run(['network', 'prune', '-f'], { allowFail: true });
      fs.rmSync(root, { recursive: true, force: true });
      if (madeNetrun) {
        try {
          fs.rmdirSync(NETRUN);
          fs.rmdirSync(path.dirname(NETRUN));
        } catch {
          // someone else's files are there now: leave them
        }
      }
    },
  };
}
