/**
 * The systems a run compares: Switchyard always, and the anchors named by `--vs` when they are
 * installed. Each anchor runs inside a netns of its own (see ../shared/anchors/).
 */
import type { TestDaemon } from '../test/helpers/daemon.js';
import { DockerAnchor, dockerInstalled } from './anchors/docker.js';
import { NetavarkAnchor, netavarkInstalled } from './anchors/netavark.js';
import { CniAnchor, cniInstalled } from './anchors/cni.js';
import { dpkgVersion } from './host-tools.js';

export type AnchorName = 'docker' | 'netavark' | 'cni';
export const ANCHORS: AnchorName[] = ['docker', 'netavark', 'cni'];
export const INSTALL_HINT = 'bash ../shared/anchors/00-install.sh   (Debian 12 packages; starts no service)';

export interface Systems {
  sy: TestDaemon;
  docker?: DockerAnchor;
  netavark?: NetavarkAnchor;
  cni?: CniAnchor;
}

export function parseVs(spec: string | undefined): AnchorName[] {
  if (!spec) return [];
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!ANCHORS.includes(n as AnchorName)) throw new Error(`--vs: unknown anchor "${n}" (expected ${ANCHORS.join(', ')})`);
  return names as AnchorName[];
}

const installed: Record<AnchorName, () => boolean> = { docker: dockerInstalled, netavark: netavarkInstalled, cni: cniInstalled };

/** The anchors that are both asked for and installed; the others are reported with the install hint. */
export function availableAnchors(asked: AnchorName[]): { use: AnchorName[]; missing: AnchorName[] } {
  const use = asked.filter((a) => installed[a]());
  return { use, missing: asked.filter((a) => !use.includes(a)) };
}

export async function startAnchors(use: AnchorName[]): Promise<Omit<Systems, 'sy'>> {
  const s: Omit<Systems, 'sy'> = {};
  try {
    if (use.includes('docker')) s.docker = await DockerAnchor.start();
    if (use.includes('netavark')) s.netavark = NetavarkAnchor.start();
    if (use.includes('cni')) s.cni = CniAnchor.start();
  } catch (err) {
    await stopAnchors(s);
    throw err;
  }
  return s;
}

export async function stopAnchors(s: Omit<Systems, 'sy'>): Promise<void> {
  if (s.docker) await s.docker.stop().catch((e) => console.error(`docker anchor stop: ${e}`));
  s.netavark?.stop();
  s.cni?.stop();
}

export function anchorVersions(use: AnchorName[]): Record<string, string | undefined> {
  const v: Record<string, string | undefined> = {};
  if (use.includes('docker')) v['docker.io'] = dpkgVersion('docker.io');
  if (use.includes('netavark')) { v.netavark = dpkgVersion('netavark'); v['aardvark-dns'] = dpkgVersion('aardvark-dns'); }
  if (use.includes('cni')) v['containernetworking-plugins'] = dpkgVersion('containernetworking-plugins');
  v.iperf3 = dpkgVersion('iperf3');
  v.dnsperf = dpkgVersion('dnsperf');
  v.nftables = dpkgVersion('nftables');
  return v;
}
