/**
 * The CNI reference plugins 1.1.1 (bridge + host-local + portmap), executed the way libcni does
 * (CNI spec 1.0: CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in the environment,
 * the network config with prevResult and runtimeConfig on stdin; DEL in reverse order with the
 * cached result). Debian ships no cnitool, so this is the runtime. Each plugin runs inside the
 * anchor's own "host" netns through nsenter.
 */
import * as fs from 'node:fs';
import { makeNs, removeNs, type TestNs } from '../../test/helpers/netns.js';
import { runIn } from '../host-tools.js';

export const CNI_PATH = '/usr/lib/cni';

export function cniInstalled(): boolean {
  return ['bridge', 'host-local', 'portmap'].every((p) => fs.existsSync(`${CNI_PATH}/${p}`));
}

interface Plugin { type: string; [k: string]: unknown }
interface ConfList { cniVersion: string; name: string; plugins: Plugin[] }

export class CniAnchor {
  readonly dataDir: string;
  readonly list: ConfList;
  private readonly results = new Map<string, unknown>();

  private constructor(readonly host: TestNs) {
    this.dataDir = fs.mkdtempSync('/run/swy-bench-cni-');
    this.list = {
      cniVersion: '1.0.0',
      name: 'swybench',
      plugins: [
        { type: 'bridge', bridge: 'cnibr0', isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.93.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: `${this.dataDir}/ipam` } },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    };
  }

  static start(): CniAnchor {
    return new CniAnchor(makeNs('cni'));
  }

  private exec(p: Plugin, cmd: 'ADD' | 'DEL', sandbox: TestNs, prevResult: unknown, ports: Array<[number, number]>): unknown {
    const conf: Record<string, unknown> = { ...p, cniVersion: this.list.cniVersion, name: this.list.name };
    if (prevResult) conf.prevResult = prevResult;
    if (p.capabilities) conf.runtimeConfig = { portMappings: ports.map(([h, c]) => ({ hostPort: h, containerPort: c, protocol: 'tcp' })) };
    const env = `CNI_COMMAND=${cmd} CNI_CONTAINERID=cid-${sandbox.name} CNI_NETNS=${sandbox.path} CNI_IFNAME=eth0 CNI_PATH=${CNI_PATH}`.split(' ');
    const r = runIn(this.host.path, 'env', [...env, `${CNI_PATH}/${p.type}`], { input: JSON.stringify(conf) });
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  }

  add(sandbox: TestNs, ports: Array<[number, number]> = []): void {
    let prev: unknown;
    for (const p of this.list.plugins) prev = this.exec(p, 'ADD', sandbox, prev, ports);
    this.results.set(sandbox.name, prev);
  }

  del(sandbox: TestNs, ports: Array<[number, number]> = []): void {
    const prev = this.results.get(sandbox.name);
    for (const p of [...this.list.plugins].reverse()) this.exec(p, 'DEL', sandbox, prev, ports);
    this.results.delete(sandbox.name);
  }

  version(): string {
    return runIn(this.host.path, 'env', ['CNI_COMMAND=VERSION', `${CNI_PATH}/bridge`], { input: '{"cniVersion":"1.0.0"}', allowFail: true }).stderr.match(/v?(\d+\.\d+\.\d+)/)?.[1] ?? '1.1.1';
  }

  stop(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    removeNs(this.host); // the bridge plugin never deletes its bridge: the netns takes it along
  }
}
