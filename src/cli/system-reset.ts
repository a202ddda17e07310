/**
 * `switchyard system reset [-f] [--data-root DIR] [--exec-root DIR]`: takes Switchyard off
 * the host. Works with or without a running daemon, and removes only what it can prove
 * Switchyard made (host-ownership.ts), in this order:
 *
 * 1. the daemon serving these roots, found through its pidfile `<exec-root>/switchyard.pid`
 *    (checked: the process's argv is a `switchyard … daemon`), else through the owner of the
 *    API socket (the process holding the socket's inode, from /proc/net/unix and
 *    /proc/<pid>/fd): SIGTERM, then SIGKILL after 15 s;
 * 2. sandbox processes: session leaders whose argv names a directory of
 *    `<data-root>/sandboxes/` (the wrapper's argv), killed with their whole session;
 * 3. mounts at or under the exec and data roots (netns pins of sandboxes and of overlay
 *    networks, the shared netns directories), deepest first;
 * 4. links of this network namespace that are Switchyard's (alias `switchyard:…`, device
 *    group of the graveyard, or a legacy `sy0`/`sy-*`/`syv*` bridge or veth without alias);
 * 5. the nftables tables `inet switchyard`, `bridge switchyard`, `inet switchyard-routed` and
 *    `inet switchyard_esp`, the xfrm (IPsec) policies and states of encrypted overlays
 *    (mark/reqid top byte 0xe3), and the routes of routed networks: protocol RTPROT_SWITCHYARD (83),
 *    and BIRD's (protocol bird) with Switchyard's metric (377), after the BIRD the daemon ran
 *    (`<exec-root>/bird/bird.pid`, checked: its argv names that directory's bird.conf) is stopped;
 * 6. the data and exec roots, and the API socket.
 *
 * Links and tables are listed and deleted with `ip` and `nft` (argv, never a shell).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../errors.js';
import { sandboxSessionsUnder } from '../kernel/sandbox-process.js';
import { readSysctl, writeSysctl } from '../kernel/sysctl.js';
import { FORWARDING_SYSCTL, forwardingEnabledBySwitchyard } from '../daemon/forwarding-marker.js';
import type { CliIo } from './cli-io.js';
import { SWITCHYARD_TABLES, mountsUnder, switchyardLinkReason, type HostLink } from './host-ownership.js';
import { confirm } from './prompt.js';
import { OVERLAY_NS_SUBDIR } from '../drivers/overlay.js';
import { RTPROT_SWITCHYARD } from '../drivers/routed.js';
import { KERNEL_METRIC } from '../services/bgp/config.js';
import { birdDirOf, birdPaths } from '../services/bgp/supervisor.js';
import { removeOwnXfrm } from '../drivers/overlay-crypto.js';

export interface ResetOptions {
  force: boolean;
  dataRoot: string;
  execRoot: string;
  socket: string;
}

export const DEFAULT_DATA_ROOT = '/var/lib/switchyard';
export const DEFAULT_EXEC_ROOT = '/run/switchyard';

export async function runSystemReset(o: ResetOptions, io: CliIo): Promise<number> {
  for (const [flag, dir] of [['--data-root', o.dataRoot], ['--exec-root', o.execRoot]] as const) {
    if (!path.isAbsolute(dir) || path.resolve(dir) === '/' || path.resolve(dir).split('/').length < 3) {
      throw invalid('INVALID_FLAG', `${flag} ${JSON.stringify(dir)}: want an absolute directory below a top-level one (e.g. /var/lib/switchyard)`, flag);
    }
  }
  if (process.getuid?.() !== 0) throw invalid('NOT_ROOT', 'switchyard system reset must run as root', 'user');
  if (!o.force) {
    const question =
      'WARNING! This will stop the Switchyard daemon and remove everything Switchyard made on this host:\n' +
      `  - every sandbox and its processes (under ${o.dataRoot})\n` +
      "  - Switchyard's links, the nftables tables inet switchyard, bridge switchyard and inet switchyard_esp, and its xfrm (IPsec) objects\n" +
      `  - mounts and network namespace pins under ${o.execRoot}\n` +
      `  - the data root ${o.dataRoot} and the exec root ${o.execRoot}\n` +
      'Are you sure you want to continue? [y/N] ';
    if (!(await confirm(io, question))) return 0;
  }
  const say = (line: string): void => void io.stdout.write(`${line}\n`);
  const dataRoot = path.resolve(o.dataRoot);
  const execRoot = path.resolve(o.execRoot);

  // 1. The daemon.
  const daemon = findDaemon(execRoot, o.socket);
  if (daemon) {
    const how = daemon.via === 'pidfile' ? `pidfile ${path.join(execRoot, 'switchyard.pid')}` : `owner of ${o.socket}`;
    await stopProcess(daemon.pid, 15_000);
    say(`Stopped daemon: pid ${daemon.pid} (found through the ${how})`);
  }

  // 1b. The BIRD the daemon ran for routed networks (it outlives a killed daemon).
  const bird = birdPaths(birdDirOf(execRoot));
  const birdPid = Number(fs.existsSync(bird.pidFile) ? fs.readFileSync(bird.pidFile, 'utf8').trim() : NaN);
  if (Number.isInteger(birdPid) && birdPid > 1 && readArgv(birdPid).includes(bird.config)) {
    await stopProcess(birdPid, 5000);
    say(`Stopped BIRD: pid ${birdPid} (found through ${bird.pidFile})`);
  }

  // 2. Sandbox processes (each wrapper leads its own session: the session goes at once).
  const sessions = sandboxSessionsUnder(path.join(dataRoot, 'sandboxes'));
  for (const { pid } of sessions) signal(-pid, 'SIGKILL');
  for (const { pid, dir } of sessions) {
    await waitGone(pid, 5000);
    say(`Killed sandbox process: pid ${pid} (${path.basename(dir).slice(0, 12)})`);
  }

  // 3. Mounts (netns pins, the netns directory's own bind mount), deepest first.
  // The overlay networks' namespaces (<exec-root>/overlay/1-<netid10>) are pins like the
  // sandboxes': unmounted, each namespace goes with its bridge, VXLAN device and veth ends.
  const overlayDir = path.join(execRoot, OVERLAY_NS_SUBDIR);
  for (const point of mountsUnder(fs.readFileSync('/proc/self/mountinfo', 'utf8'), [execRoot, dataRoot])) {
    const r = spawnSync('umount', ['-l', '--', point], { encoding: 'utf8' });
    if (r.status === 0 && path.dirname(point) === overlayDir) say(`Removed overlay network namespace: ${point}`);
    else if (r.status === 0) say(`Unmounted: ${point}`);
    else io.stderr.write(`warning: umount ${point}: ${r.stderr.trim()}\n`);
  }

  // 4. Links of this namespace that are provably Switchyard's.
  for (const link of listLinks()) {
    const reason = switchyardLinkReason(link);
    if (!reason) continue;
    const r = spawnSync('ip', ['link', 'del', 'dev', link.name], { encoding: 'utf8' });
    // A veth's peer goes with it: "Cannot find device" for the second end is success.
    if (r.status === 0) say(`Deleted link: ${link.name} (${reason === 'alias' ? `alias ${link.alias}` : reason === 'graveyard' ? 'graveyard group' : `legacy name, ${link.kind} without alias`})`);
    else if (!/Cannot find device/.test(r.stderr)) io.stderr.write(`warning: delete link ${link.name}: ${r.stderr.trim()}\n`);
  }

  // 5. nftables tables.
  const listed = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  const present = new Set(listed.stdout.split('\n').map((l) => l.trim()));
  for (const t of SWITCHYARD_TABLES) {
    if (!present.has(`table ${t.family} ${t.name}`)) continue;
    const r = spawnSync('nft', ['delete', 'table', t.family, t.name], { encoding: 'utf8' });
    if (r.status === 0) say(`Deleted nftables table: ${t.family} ${t.name}`);
    else io.stderr.write(`warning: nft delete table ${t.family} ${t.name}: ${r.stderr.trim()}\n`);
  }
  try {
    const x = removeOwnXfrm();
    if (x.policies || x.sas) say(`Deleted encrypted overlay xfrm objects: ${x.policies} policies, ${x.sas} states (mark/reqid 0xe3……)`);
  } catch (err) {
    io.stderr.write(`warning: xfrm: ${String(err)}\n`);
  }

  // 5b. Routes of routed networks: the driver's (protocol 83) and BIRD's with our metric.
  for (const family of ['-4', '-6']) {
    const shown = (proto: string) => spawnSync('ip', [family, 'route', 'show', 'proto', proto], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim());
    const ours: [string, string][] = [
      ...shown(String(RTPROT_SWITCHYARD)).map((l): [string, string] => [String(RTPROT_SWITCHYARD), l.trim()]),
      ...shown('bird').filter((l) => new RegExp(`\\bmetric ${KERNEL_METRIC}\\b`).test(l)).map((l): [string, string] => ['bird', l.trim()]),
    ];
    for (const [proto, line] of ours) {
      const r = spawnSync('ip', [family, 'route', 'del', ...line.split(/\s+/), 'proto', proto], { encoding: 'utf8' });
      if (r.status === 0) say(`Deleted route: ${line} (proto ${proto})`);
      else io.stderr.write(`warning: ip route del ${line} proto ${proto}: ${r.stderr.trim()}\n`);
    }
  }

  // 6. Forwarding the daemon turned on itself (recorded in the exec root) goes off again;
  // a switch the admin had turned on was never recorded, so it stays as it is.
  for (const family of forwardingEnabledBySwitchyard(execRoot)) {
    const key = FORWARDING_SYSCTL[family];
    try {
      if (readSysctl(key) === '1') {
        writeSysctl(key, '0');
        say(`Turned off again: ${key} (Switchyard had turned it on)`);
      }
    } catch (err) {
      io.stderr.write(`warning: ${key}: ${String(err)}\n`);
    }
  }

  // 7. Roots and the socket.
  for (const dir of [dataRoot, execRoot]) {
    if (!fs.existsSync(dir)) continue;
    fs.rmSync(dir, { recursive: true, force: true });
    say(`Removed directory: ${dir}`);
  }
  if (fs.existsSync(o.socket)) {
    fs.rmSync(o.socket, { force: true });
    say(`Removed socket: ${o.socket}`);
  }
  say('Switchyard reset: done');
  return 0;
}

interface FoundDaemon {
  pid: number;
  via: 'pidfile' | 'socket';
}

function findDaemon(execRoot: string, socket: string): FoundDaemon | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(execRoot, 'switchyard.pid'), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1 && isSwitchyardDaemon(pid)) return { pid, via: 'pidfile' };
  } catch {
    // no pidfile: look for the socket's owner
  }
  const pid = socketOwner(socket);
  return pid !== undefined && isSwitchyardDaemon(pid) ? { pid, via: 'socket' } : undefined;
}

/** A process's argv ([] when it is gone). */
function readArgv(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** The argv of a Switchyard daemon: `node …/switchyard … daemon …`. */
function isSwitchyardDaemon(pid: number): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('daemon') && argv.some((a) => /switchyard|cli\/main\.js$/.test(a));
  } catch {
    return false;
  }
}

/** The process holding the listening unix socket at `socket` (inode from /proc/net/unix). */
function socketOwner(socket: string): number | undefined {
  let inode: string | undefined;
  try {
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 8 && f[7] === socket) inode = f[6];
    }
  } catch {
    return undefined;
  }
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      for (const fd of fs.readdirSync(`/proc/${entry}/fd`)) {
        if (fs.readlinkSync(`/proc/${entry}/fd/${fd}`) === target) return Number(entry);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

function listLinks(): HostLink[] {
  const r = spawnSync('ip', ['-j', '-d', 'link', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip link show: ${r.stderr}`);
  const raw = JSON.parse(r.stdout || '[]') as Array<{ ifname: string; ifalias?: string; group?: string | number; linkinfo?: { info_kind?: string } }>;
  return raw.map((l) => ({
    name: l.ifname,
    alias: l.ifalias,
    group: typeof l.group === 'number' ? l.group : /^\d+$/.test(String(l.group)) ? Number(l.group) : undefined,
    kind: l.linkinfo?.info_kind,
  }));
}

async function stopProcess(pid: number, graceMs: number): Promise<void> {
  signal(pid, 'SIGTERM');
  if (await waitGone(pid, graceMs)) return;
  signal(pid, 'SIGKILL');
  await waitGone(pid, 5000);
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}
