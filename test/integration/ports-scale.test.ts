/**
 * Cost of publishing, measured (not asserted: machines differ) in a throwaway netns through
 * the real PortsService: host sockets + one in-process libnftables transaction per call.
 * Prints the figures docs/PORTS.md quotes. Needs root.
 *
 *   node --test dist/test/integration/ports-scale.test.js
 *
 * - publish of one more port (`-p H:80`, IPv4 + IPv6 = 2 sockets, 4 elements) with 0,
 *   1,000 and 10,000 ports already published; unpublish of the same;
 * - a whole sandbox's publish call with 1, 32 and 1,000 ports.
 * The ports already there are IPv4 through the service (one socket each: the fd limit here
 * is 20,000) plus the same number of IPv6 DNAT/published elements added directly, so the
 * maps hold what 10,000 dual-stack ports would put there.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Nft } from '../../src/kernel/nftables.js';
import { warmThreadpool } from '../../src/kernel/netns.js';
import { Firewall } from '../../src/services/firewall/firewall.js';
import { PortsService } from '../../src/services/ports/service.js';
import type { PublishRequest } from '../../src/engine/context.js';
import { assertNoLeaks, inNs, makeNs, removeNs } from '../helpers/netns.js';

const SAMPLES = 200;
const BRIDGE = 'sybrS';

before(async () => {
  await warmThreadpool();
});

function ms(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function stats(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(s.length * q))]!.toFixed(3);
  return `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms (n=${s.length})`;
}

/** Container i of the fill: 10.(100+i/65536).x.y on the bridge, never a real neighbour. */
const v4 = (i: number) => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const v6 = (i: number) => `fd00:5::${i.toString(16)}`;

function req(id: string, hostPorts: number[], c4: string, c6?: string): PublishRequest {
  return {
    sandboxId: id,
    requests: hostPorts.map((p) => ({ containerPort: 80, proto: 'tcp' as const, hostIp: '', hostPort: p })),
    publishAll: false,
    expose: [],
    target: { bridge: BRIDGE, containerIPv4: c4, ...(c6 ? { containerIPv6: c6 } : {}), defaultHostIp: '0.0.0.0' },
  };
}

test('publishing one more port costs the same with 0, 1,000 and 10,000 ports published', () => {
  const ns = makeNs('ptscl');
  const nft = Nft.open(ns.path);
  const lines: string[] = [];
  let ports: PortsService | undefined;
  try {
    inNs(ns.name, 'ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    const fw = new Firewall(nft);
    fw.ensureBase();
    fw.ensureNetwork({ bridge: BRIDGE, subnets: ['10.100.0.0/14', 'fd00:5::/64'], icc: true, masquerade: true, internal: false });
    const svc = new PortsService({ firewall: fw, enabled: true, netnsPath: ns.path, log: () => {} });
    ports = svc;

    const onePort = (label: string) => {
      const pub: number[] = [];
      const unpub: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const id = `probe-${i}`;
        let out: ReturnType<PortsService['publish']> = [];
        pub.push(ms(() => { out = svc.publish(req(id, [50000 + i], '10.99.0.2', 'fd00:5::ffff:2')); }));
        unpub.push(ms(() => svc.unpublish(id, out)));
      }
      lines.push(`${label}: publish ${stats(pub)}; unpublish ${stats(unpub)}`);
    };

    let published = 0;
    const fillTo = (n: number) => {
      for (; published < n; published += 100) {
        const first = published;
        const hostPorts = Array.from({ length: 100 }, (_, k) => 20000 + first + k);
        // One container per 100 ports keeps the published set as large as the DNAT map.
        const ids = hostPorts.map((_, k) => first + k);
        for (const [k, p] of hostPorts.entries()) svc.publish(req(`fill-${ids[k]}`, [p], v4(ids[k]!)));
        nft.run(
          `add element inet switchyard dnat6-any { ${hostPorts.map((p, k) => `tcp . ${p} : ${v6(ids[k]!)} . 80`).join(', ')} }\n` +
          `add element inet switchyard published6 { ${ids.map((i) => `${v6(i)} . tcp . 80`).join(', ')} }\n`,
        );
      }
    };

    onePort('0 ports published');
    fillTo(1000);
    onePort('1,000 ports published');
    fillTo(10000);
    assert.equal(svc.reservedCount, 10000);
    onePort('10,000 ports published');

    // A whole sandbox: 1, 32 and 1,000 ports in one publish call (one transaction).
    for (const n of [1, 32, 1000]) {
      const samples: number[] = [];
      const reps = n === 1000 ? 20 : 100;
      for (let r = 0; r < reps; r++) {
        const id = `sandbox-${n}-${r}`;
        let out: ReturnType<PortsService['publish']> = [];
        const hostPorts = Array.from({ length: n }, (_, k) => 40000 + k);
        samples.push(ms(() => { out = svc.publish(req(id, hostPorts, '10.99.0.3', 'fd00:5::ffff:3')); }));
        svc.unpublish(id, out);
      }
      lines.push(`sandbox with ${n} port(s), one publish call (10,000 published): ${stats(samples)}`);
    }
    console.log(lines.map((l) => `# ${l}`).join('\n'));
  } finally {
    ports?.close();
    nft.close();
    removeNs(ns);
  }
  assertNoLeaks([ns.name]);
});
