/**
 * `switchyard daemon --bgp-asn N --bgp-peer ADDR[:ASN]…` (docs/drivers/routed.md "BGP"): the
 * daemon runs BIRD through the supervisor (services/bgp/supervisor.ts) in its own namespace,
 * announcing this host's blocks of every routed network (engine/routed-blocks.ts) and
 * learning the others' inside the routed networks' subnets. The configuration follows the
 * claims: it is recomputed every `periodMs` (a cheap in-memory read) and loaded with
 * `birdc configure` only when its text changed (the supervisor compares). Shutdown stops
 * BIRD without withdrawing (its routes persist and its peers hold this host's routes by
 * graceful restart, as across a daemon restart). Without the flags nothing runs: routes
 * come from etcd alone.
 */
import type { EngineContext } from '../engine/context.js';
import { ownBlocks } from '../engine/routed-blocks.js';
import { BirdSupervisor, birdDirOf } from '../services/bgp/supervisor.js';
import type { BirdConfigInput } from '../services/bgp/config.js';
import type { BgpSettings } from '../services/bgp/flags.js';

export interface RoutedBgp {
  /** Recomputes the configuration now (and loads it when it changed). */
  refresh(): Promise<void>;
  readonly supervisor: BirdSupervisor;
  stop(): Promise<void>;
}

/** `nextHop6`: the host's IPv6 data-path address (the second --data-path-addr), next hop of its IPv6 blocks over IPv4 sessions. */
export function birdInputOf(ctx: EngineContext, bgp: BgpSettings, routerId: string, nextHop6?: string): BirdConfigInput {
  const subnets = [...ctx.state.networks.values()].filter((n) => n.driver === 'routed' && n.scope === 'global').flatMap((n) => n.pools.map((p) => p.subnet));
  return { routerId, asn: bgp.asn, peers: bgp.peers, blocks: [...new Set(ownBlocks(ctx))].sort(), subnets: [...new Set(subnets)].sort(), ...(nextHop6 ? { nextHop6 } : {}) };
}

export async function startRoutedBgp(ctx: EngineContext, bgp: BgpSettings, o: { routerId: string; nextHop6?: string; periodMs?: number; log: (m: string) => void }): Promise<RoutedBgp> {
  const supervisor = new BirdSupervisor({ dir: birdDirOf(ctx.config.execRoot), log: o.log });
  await supervisor.start(birdInputOf(ctx, bgp, o.routerId, o.nextHop6));
  o.log(`bgp: bird runs as AS ${bgp.asn} with ${bgp.peers.length} peer(s) (${bgp.peers.map((p) => `${p.address}:${p.asn}`).join(', ')})`);
  let busy: Promise<void> = Promise.resolve();
  const refresh = (): Promise<void> =>
    (busy = busy.then(async () => {
      try {
        if (await supervisor.update(birdInputOf(ctx, bgp, o.routerId, o.nextHop6))) o.log('bgp: bird configuration reloaded (blocks or routed subnets changed)');
      } catch (err) {
        o.log(`bgp: reload: ${String(err)}`);
      }
    }));
  const timer = setInterval(() => void refresh(), o.periodMs ?? 500);
  timer.unref();
  return {
    refresh,
    supervisor,
    async stop() {
      clearInterval(timer);
      await busy;
      await supervisor.stop();
    },
  };
}
