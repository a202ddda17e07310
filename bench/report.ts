/** The Markdown tables of one run (pasted into docs/BENCHMARKS.md), with the targets of issue 5. */
import { cniVsBridgeTable } from './cni-vs-bridge.js';
import type { Summary } from './stats.js';

const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d));
const pp = (s: Summary | undefined) => (s ? `${f(s.p50, 2)} / ${f(s.p99, 2)}` : '—');
const spread = (s: Summary | undefined) => (s ? `${f(s.min, 2)}–${f(s.max, 1)}` : '—');
const med = (a: number[] | undefined) => (a && a.length ? [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)]! : NaN);
const SYSTEMS = ['switchyard', 'docker', 'netavark', 'cni'];
const VERB: Record<string, [string, string]> = {
  switchyard: ['API connect', 'API disconnect'],
  docker: ['API connect', 'API disconnect'],
  netavark: ['setup', 'teardown'],
  cni: ['bridge+portmap ADD', 'DEL'],
};

export function renderMarkdown(r: Record<string, any>): string {
  const out: string[] = [];
  const L = (s = '') => out.push(s);
  const large = r.sandboxes;
  L(`Run ${r.started} — \`${r.command}\` — ${r.machine.cpus} vCPU ${r.machine.cpuModel ?? ''}, ${r.machine.memGb} GiB, kernel ${r.machine.kernel}, Node ${r.machine.node}`);
  L(`Load average (1/5/15 min) before ${r.load.before.map((x: number) => x.toFixed(2)).join(' ')}, after ${r.load.after.map((x: number) => x.toFixed(2)).join(' ')}. Latencies in ms as p50 / p99 (min–max spread).`);
  L(`Anchors: ${Object.entries(r.versions ?? {}).map(([k, v]) => `${k} ${v ?? 'n/a'}`).join(', ')}`);
  L();
  L('### Network create / remove (interleaved)');
  L('| system | create p50 / p99 | spread | remove p50 / p99 | spread |');
  L('|---|---|---|---|---|');
  for (const sys of ['switchyard', 'docker']) {
    const c = r.networks?.[`${sys} create`];
    if (c) L(`| ${sys} | ${pp(c)} | ${spread(c)} | ${pp(r.networks[`${sys} remove`])} | ${spread(r.networks[`${sys} remove`])} |`);
  }
  L('netavark and CNI have no network-create step (the bridge is made at the first setup/ADD).');
  L();
  L('### Attach / detach of a running sandbox, by published ports (interleaved rounds)');
  L('| ports | system (operation) | attach p50 / p99 | attach spread | detach p50 / p99 | × switchyard attach p50 |');
  L('|---|---|---|---|---|---|');
  for (const k of [0, 1, 32]) {
    const sy = r.attachByPorts?.[`switchyard attach ${k}p`] as Summary | undefined;
    for (const sys of SYSTEMS) {
      const a = r.attachByPorts?.[`${sys} attach ${k}p`] as Summary | undefined;
      if (!a) continue;
      L(`| ${k} | ${sys} (${VERB[sys]!.join(' / ')}) | ${pp(a)} | ${spread(a)} | ${pp(r.attachByPorts[`${sys} detach ${k}p`])} | ${sy ? f(a.p50 / sy.p50, 1) + '×' : '—'} |`);
    }
  }
  L();
  L(`### Attach / detach (1 published port) with N endpoints already on the host`);
  L(`| system | attach @10 | attach @100 | attach @${large} | detach @10 | detach @${large} | attach p50 ratio ${large}/10 (100/10) |`);
  L('|---|---|---|---|---|---|---|');
  const sc = r.attachAtScale ?? {};
  for (const sys of SYSTEMS) {
    const a10 = sc[`${sys} attach @10`];
    if (!a10) continue;
    const a100 = sc[`${sys} attach @100`];
    const aL = sc[`${sys} attach @${large}`];
    const ratio = aL ? f(aL.p50 / a10.p50, 2) : a100 ? `(${f(a100.p50 / a10.p50, 2)})` : '—';
    L(`| ${sys} | ${pp(a10)} | ${pp(a100)} | ${pp(aL)} | ${pp(sc[`${sys} detach @10`])} | ${pp(sc[`${sys} detach @${large}`])} | ${ratio} |`);
  }
  L(`Switchyard second-network connect/disconnect (${r.settings.iterations} cycles over the sandboxes): @10 ${pp(r.at10?.connect)} / ${pp(r.at10?.disconnect)}; @${large} ${pp(r.atLarge?.connect)} / ${pp(r.atLarge?.disconnect)}. Run (create+start) per sandbox: ${r.runRateMs} ms.`);
  L();
  L('### Daemon');
  L('| figure | value |');
  L('|---|---|');
  for (const [k, v] of Object.entries(r.restarts ?? {})) L(`| ${k} (stop + start + API ready), p50 / p99 ms (n=${(v as Summary).n}) | ${pp(v as Summary)} |`);
  L(`| first start, empty state (netns + spawn + API ready) | ${r.daemonFirstStartMs} ms |`);
  L(`| RSS at 10 / ${large} endpoints / after restart at ${large} | ${r.rss10} / ${r.rssLarge} / ${r.rssAfterRestart} MB |`);
  for (const [k, v] of Object.entries(r.anchorRssMb ?? {})) L(`| ${k} RSS | ${v} MB |`);
  L();
  if (r.cliStartup) {
    L('### CLI start-up (fresh process each, alternating)');
    L('| command | p50 / p99 ms | spread |');
    L('|---|---|---|');
    for (const [k, v] of Object.entries(r.cliStartup)) L(`| \`${k}\` | ${pp(v as Summary)} | ${spread(v as Summary)} |`);
    L();
  }
  if (r.dns) {
    L('### DNS (dnsperf from inside a sandbox, 10 names answered locally)');
    L('| server | q/s at 100 outstanding (median of rounds; all) | avg latency ms | at 1000 q/s: p50 / p99 ms (median of rounds) | lost | server CPU s |');
    L('|---|---|---|---|---|---|');
    for (const [k, v] of Object.entries(r.dns) as Array<[string, any]>) {
      L(`| ${k} | ${med(v.qps)} (${v.qps.join(', ')}) | ${f(med(v.avgLatencyMs), 3)} | ${f(med(v.p50Ms), 3)} / ${f(med(v.p99Ms), 3)} | ${v.lost.reduce((a: number, b: number) => a + b, 0)} | ${v.serverCpuS ?? '—'} |`);
    }
    L();
  }
  if (r.datapath) {
    L(`### Data path (iperf3, 1 TCP stream, ${r.datapath.seconds} s, ${r.datapath.rounds} rounds)`);
    L('| path | Gbit/s median (all) |');
    L('|---|---|');
    for (const [k, v] of Object.entries(r.datapath.gbps) as Array<[string, number[]]>) L(`| ${k} | ${f(med(v), 2)} (${v.join(', ')}) |`);
    L();
  }
  if (r.cniVsBridge) {
    L('### CNI plugin exec: ours (bin/cni/switchyard → the daemon) vs the reference bridge + host-local (bench/cni-vs-bridge.ts)');
    L(cniVsBridgeTable(r.cniVsBridge));
    L();
  }
  L('### Targets (issue 5)');
  L('| target | measured | met? |');
  L('|---|---|---|');
  for (const t of targets(r)) L(`| ${t[0]} | ${t[1]} | ${t[2]} |`);
  for (const op of ['ADD', 'DEL']) {
    const ref = r.cniVsBridge?.summaries?.[`reference bridge ${op}`];
    const ours = r.cniVsBridge?.summaries?.[`switchyard ${op}`];
    if (ref && ours) L(`| CNI ${op} faster than the reference bridge plugin (p50, p99; issue 15) | ${f(ours.p50, 1)} vs ${f(ref.p50, 1)} ms, ${f(ours.p99, 1)} vs ${f(ref.p99, 1)} ms | ${ours.p50 < ref.p50 && ours.p99 < ref.p99 ? 'yes' : '**no**'} |`);
  }
  if (r.leftovers?.length) L(`\n**Main namespace changed during the run:** ${r.leftovers.join('; ')}`);
  return out.join('\n');
}

function targets(r: Record<string, any>): Array<[string, string, string]> {
  const t: Array<[string, string, string]> = [];
  const yes = (b: boolean) => (b ? 'yes' : '**no**');
  for (const [sys, what] of [['docker', "Docker's API connect"], ['netavark', 'netavark setup']] as const) {
    for (const k of [0, 1, 32]) {
      const a = r.attachByPorts?.[`${sys} attach ${k}p`]?.p50;
      const s = r.attachByPorts?.[`switchyard attach ${k}p`]?.p50;
      if (a && s) t.push([`attach p50 ≥ 10× faster than ${what} (${k} ports)`, `${f(a / s, 1)}×`, yes(a / s >= 10)]);
    }
  }
  const sc = r.attachAtScale ?? {};
  const a10 = sc['switchyard attach @10']?.p50;
  const aL = sc[`switchyard attach @${r.sandboxes}`]?.p50;
  if (a10 && aL) t.push([`flat 10 → ${r.sandboxes} endpoints (≤ 1.1×)`, `${f(aL / a10, 2)}× (p50 ${f(a10, 2)} → ${f(aL, 2)} ms)`, yes(aL / a10 <= 1.1)]);
  const p0 = r.attachByPorts?.['switchyard attach 0p']?.p50;
  const p32 = r.attachByPorts?.['switchyard attach 32p']?.p50;
  if (p0 && p32) t.push(['32 ports add ≤ 5 ms to attach (p50)', `+${f(p32 - p0, 2)} ms`, yes(p32 - p0 <= 5)]);
  const sy = r.dns?.switchyard;
  const av = r.dns?.['aardvark-dns'];
  if (sy && av) {
    t.push(['DNS ≥ 1.2× aardvark-dns q/s', `${f(med(sy.qps) / med(av.qps), 2)}× (${med(sy.qps)} vs ${med(av.qps)})`, yes(med(sy.qps) / med(av.qps) >= 1.2)]);
    t.push(['DNS p99 no worse than aardvark-dns (at 1000 q/s)', `${f(med(sy.p99Ms), 3)} vs ${f(med(av.p99Ms), 3)} ms`, yes(med(sy.p99Ms) <= med(av.p99Ms))]);
  }
  const g = r.datapath?.gbps;
  if (g) {
    const ratio = med(g['bridge: switchyard']) / med(g['bridge: plain veth+bridge']);
    t.push(['sandbox↔sandbox ≥ 90 % of plain veth+bridge', `${f(ratio * 100, 0)} %`, yes(ratio >= 0.9)]);
  }
  if (r.rssLarge) t.push([`daemon RSS ≤ 200 MB at ${r.sandboxes} endpoints`, `${r.rssLarge} MB (${r.rssAfterRestart} MB after restart)`, yes(Math.max(r.rssLarge, r.rssAfterRestart) <= 200)]);
  return t;
}
