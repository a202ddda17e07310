/**
 * A private Podman (Debian's 4.3) for tests, never the machine's own: its own --root,
 * --runroot, --tmpdir and containers.conf (CONTAINERS_CONF), its CNI network configurations in
 * a directory of the test's, and a mount namespace of its own in which libcni's cache
 * (/var/lib/cni) is a tmpfs. /run/netns stays shared with the host (it is a shared mount), so
 * the container namespaces Podman pins there are visible to a Switchyard daemon. Podman runs
 * inside a given network namespace (a test daemon's host), with runc and cgroupfs, the only
 * combination that works on this machine (crun refuses its hybrid cgroups).
 * The image is a static busybox tree imported with `podman import`, as
 * ../shared/anchors/10-rootfs.sh builds it: no registry is needed.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const PODMAN = '/usr/bin/podman';
export const IMAGE = 'localhost/swy/busybox:1';
const VAR_LIB_CNI = '/var/lib/cni';

export function podmanMissing(): string | false {
  for (const bin of [PODMAN, '/usr/sbin/runc', '/usr/bin/conmon', '/bin/busybox']) {
    if (!fs.existsSync(bin)) return `${bin} is not installed (scripts/install.sh installs podman, runc, conmon, busybox-static)`;
  }
  return false;
}

export interface PrivatePodman {
  dir: string;
  /** The directory Podman reads CNI network configurations (*.conflist) from. */
  netDir: string;
  run(args: string[], o?: { allowFail?: boolean; timeoutMs?: number }): SpawnSyncReturns<string>;
  close(): void;
}

function sh(cmd: string, args: string[], allowFail = false): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (!allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} → ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A busybox root file system as a tarball (bin/ with its applets, passwd, a web root). */
function buildRootfs(tar: string): void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-rootfs-'));
  try {
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'var/www', 'root']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
    fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    for (const applet of sh('/bin/busybox', ['--list']).stdout.split('\n').filter(Boolean)) {
      if (applet !== 'busybox') fs.symlinkSync('busybox', path.join(root, 'bin', applet));
    }
    fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\n');
    fs.writeFileSync(path.join(root, 'var', 'www', 'index.html'), 'hello-podman-cni\n');
    sh('tar', ['-C', root, '-cf', tar, '.']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Sets Podman up with `network_backend = "cni"`, plugins from `pluginDirs`, running in the
 * network namespace at `netnsPath`.
 */
export function startPodman(o: { netnsPath: string; pluginDirs: string[] }): PrivatePodman {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-podman-'));
  const netDir = path.join(dir, 'net.d');
  const nsDir = path.join(dir, 'ns');
  for (const d of [netDir, nsDir, path.join(dir, 'root'), path.join(dir, 'runroot'), path.join(dir, 'tmp')]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(dir, 'containers.conf'), [
    '[containers]',
    'log_driver = "k8s-file"',
    // This machine lacks CAP_SYS_RESOURCE for Podman's root defaults (nofile=1048576, nproc=max).
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    '[engine]',
    // conmon's `podman container cleanup` (it may tear the network down before `podman rm`
    // does) gets only these variables: this file must reach it too, for cni_plugin_dirs.
    `conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF=${path.join(dir, 'containers.conf')}"]`,
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    'runtime = "runc"',
    '[network]',
    'network_backend = "cni"',
    `network_config_dir = "${netDir}"`,
    `cni_plugin_dirs = [${o.pluginDirs.map((p) => JSON.stringify(p)).join(', ')}]`,
    '',
  ].join('\n'));
  // The mount namespace: pinned at a file on a private mount; /var/lib/cni bound to our dir.
  sh('mount', ['--bind', nsDir, nsDir]);
  sh('mount', ['--make-private', nsDir]);
  const mntns = path.join(nsDir, 'mnt');
  fs.writeFileSync(mntns, '');
  let made = false;
  let madeVarLibCni = false;
  try {
    sh('unshare', [`--mount=${mntns}`, '--propagation', 'unchanged', 'true']);
    made = true;
    // libcni's cache: a tmpfs over /var/lib/cni in this namespace only (the directory is made
    // on the host when missing, empty, and removed again by close()).
    if (!fs.existsSync(VAR_LIB_CNI)) {
      fs.mkdirSync(VAR_LIB_CNI);
      madeVarLibCni = true;
    }
    sh('nsenter', [`--mount=${mntns}`, '--', 'mount', '-t', 'tmpfs', '-o', 'mode=0755', 'swy-podman-cni', VAR_LIB_CNI]);
  } catch (err) {
    if (made) sh('umount', [mntns], true);
    sh('umount', [nsDir], true);
    if (madeVarLibCni) fs.rmdirSync(VAR_LIB_CNI);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const run = (args: string[], ro: { allowFail?: boolean; timeoutMs?: number } = {}) => {
    const r = spawnSync('nsenter', [`--mount=${mntns}`, `--net=${o.netnsPath}`, '--', PODMAN,
      '--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot'), '--tmpdir', path.join(dir, 'tmp'),
      '--storage-driver', 'overlay', '--network-config-dir', netDir, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc',
      ...args], { encoding: 'utf8', timeout: ro.timeoutMs ?? 120_000, env: { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf') } });
    if (!ro.allowFail && r.status !== 0) throw new Error(`podman ${args.join(' ')} → ${r.status ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const tar = path.join(dir, 'rootfs.tar');
  buildRootfs(tar);
  run(['import', tar, IMAGE]);
  return {
    dir,
    netDir,
    run,
    close() {
      run(['rm', '-af', '-t', '2'], { allowFail: true });
      run(['system', 'reset', '-f'], { allowFail: true, timeoutMs: 60_000 });
      sh('umount', ['-l', mntns], true);
      sh('umount', ['-l', nsDir], true);
      if (madeVarLibCni) {
        try {
          fs.rmdirSync(VAR_LIB_CNI); // empty on the host: the cache lived in the namespace's tmpfs
        } catch {
          /* someone else put something there since: leave it */
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
