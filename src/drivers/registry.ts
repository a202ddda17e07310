/**
 * The drivers this daemon runs. Adding a driver is one file (against drivers/contract.ts)
 * plus one line in BUILTIN_DRIVERS; the engine, reconcile, the API's plugin list and the
 * daemon find it here and decide by its capabilities, never by its name.
 */
import type { Rtnl } from '../kernel/netlink/index.js';
import type { DriverRegistry, NetworkDriver } from './contract.js';
import type { AntiSpoofFirewall, FirewallBackend, NetworkFirewall } from '../services/firewall/contract.js';
import type { Graveyard } from './graveyard.js';
import { BridgeDriver } from './bridge.js';
import { hostDriver, nullDriver } from './passive.js';
import { MacvlanDriver } from './macvlan.js';
import { OverlayDriver, OVERLAY_NS_SUBDIR } from './overlay.js';
import { OverlayEncryptionHost } from './overlay-encryption.js';
import * as path from 'node:path';
import { IpvlanDriver } from './ipvlan.js';
import { RoutedDriver } from './routed.js';
import { Nft } from '../kernel/nftables.js';
import { NftElements } from '../kernel/nft-elements.js';
import { NoFirewall } from '../services/firewall/no-firewall.js';
import { NftOverlayPorts } from '../services/firewall/overlay-ports.js';

/** What the daemon hands every driver factory (each takes what it needs). */
export interface DriverDeps {
  /** rtnetlink in the daemon's ("host") namespace. */
  rtnl: Rtnl;
  /** Opens rtnetlink inside a sandbox namespace. */
  openRtnl: (nsPath: string) => Rtnl;
  /** The firewall backend's slices a driver uses (services/firewall/contract.ts; NoFirewall with --firewall=false). */
  firewall: NetworkFirewall & Pick<FirewallBackend, 'reload' | 'reloadEndpointSources'>;
  /** Per-endpoint anti-spoofing; absent = none. */
  antiSpoof?: AntiSpoofFirewall;
  /** Batched deletion of links that are out of service. */
  graveyard: Graveyard;
  /** Daemon-wide default MTU (--mtu). */
  defaultMtu: number;
  /** This host's VXLAN data path, from the daemon's cluster flags; absent = not in a cluster (overlay networks fail clearly). */
  cluster?: { dataPathAddress: string; dataPathPort: number };
  /** The daemon's exec root: the overlay driver pins its networks' namespaces under `<exec root>/overlay`. */
  execRoot?: string;
  log: (msg: string) => void;
}

export type DriverFactory = (deps: DriverDeps) => NetworkDriver;

export const BUILTIN_DRIVERS: readonly DriverFactory[] = [
  (d) => new BridgeDriver({ rtnl: d.rtnl, openRtnl: d.openRtnl, firewall: d.firewall, ...(d.antiSpoof ? { antiSpoof: d.antiSpoof } : {}), graveyard: d.graveyard, defaultMtu: d.defaultMtu, log: d.log }),
  (d) => new MacvlanDriver({ rtnl: d.rtnl, openRtnl: d.openRtnl, log: d.log }),
  (d) => new OverlayDriver({ rtnl: d.rtnl, openRtnl: d.openRtnl, ...(d.execRoot ? { nsDir: path.join(d.execRoot, OVERLAY_NS_SUBDIR) } : {}), ...(d.cluster ? { cluster: d.cluster, encryption: new OverlayEncryptionHost({ log: d.log }) } : {}), ports: new NftOverlayPorts({ checked: !(d.firewall instanceof NoFirewall), openNft: (ns) => Nft.open(ns), openElements: (ns) => NftElements.open(ns) }), log: d.log }),
  (d) => new IpvlanDriver({ rtnl: d.rtnl, openRtnl: d.openRtnl, log: d.log }),
  (d) => new RoutedDriver({ rtnl: d.rtnl, openRtnl: d.openRtnl, ...(d.firewall instanceof NoFirewall ? {} : { nft: () => Nft.open() }), graveyard: d.graveyard, defaultMtu: d.defaultMtu, log: d.log }),
  () => hostDriver(),
  () => nullDriver(),
];

/** A registry over the given drivers; names must be unique. */
export function makeRegistry(drivers: readonly NetworkDriver[]): DriverRegistry {
  const byName = new Map<string, NetworkDriver>();
  for (const d of drivers) {
    if (byName.has(d.name)) throw new Error(`driver ${d.name} registered twice`);
    byName.set(d.name, d);
  }
  return { get: (name) => byName.get(name), all: () => [...byName.values()] };
}

export const builtinDrivers = (deps: DriverDeps): DriverRegistry => makeRegistry(BUILTIN_DRIVERS.map((f) => f(deps)));
