/**
 * `network create` flags → the NetworkCreateRequest body, as the docker CLI builds it
 * (docker/cli v28.5.2 cli/command/network/create.go): each --ip-range, --gateway and
 * --aux-address is filed under the --subnet that contains it (consolidateIpam), with
 * docker's error texts. Everything else is validated by the daemon.
 */
import { invalid } from '../errors.js';
import { cidrContains, tryParseCidr, tryParseIp, type Cidr } from '../model/ip.js';
import { keyValues } from './key-values.js';

export interface NetworkCreateFlags {
  name: string;
  driver?: string | undefined;
  subnets: string[];
  ipRanges: string[];
  gateways: string[];
  auxAddresses: string[];
  ipv4?: boolean | undefined;
  ipv6?: boolean | undefined;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  scope?: string | undefined;
  options: string[];
  labels: string[];
  ipamDriver?: string | undefined;
  ipamOptions: string[];
}

export interface IpamConfigRequest {
  Subnet: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface NetworkCreateRequest {
  Name: string;
  Driver: string;
  Scope?: string;
  EnableIPv4?: boolean;
  EnableIPv6?: boolean;
  IPAM: { Driver: string; Options: Record<string, string>; Config: IpamConfigRequest[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export function buildNetworkCreateRequest(flags: NetworkCreateFlags): NetworkCreateRequest {
  return {
    Name: flags.name,
    Driver: flags.driver ?? 'bridge',
    ...(flags.scope !== undefined ? { Scope: flags.scope } : {}),
    // Sent only when given, so the daemon's defaults (v4 on, v6 off) apply otherwise.
    ...(flags.ipv4 !== undefined ? { EnableIPv4: flags.ipv4 } : {}),
    ...(flags.ipv6 !== undefined ? { EnableIPv6: flags.ipv6 } : {}),
    IPAM: {
      Driver: flags.ipamDriver ?? 'default',
      Options: keyValues(flags.ipamOptions, 'ipam-opt'),
      Config: consolidateIpam(flags),
    },
    Internal: flags.internal,
    Attachable: flags.attachable,
    Ingress: flags.ingress,
    ConfigOnly: false,
    Options: keyValues(flags.options, 'opt'),
    Labels: keyValues(flags.labels, 'label'),
  };
}

interface SubnetEntry {
  cidr: Cidr;
  config: IpamConfigRequest;
}

function consolidateIpam(flags: NetworkCreateFlags): IpamConfigRequest[] {
  const { subnets, ipRanges, gateways } = flags;
  if (subnets.length < ipRanges.length || subnets.length < gateways.length) {
    throw invalid('USAGE', 'every ip-range or gateway must have a corresponding subnet', 'subnet');
  }
  const entries: SubnetEntry[] = [];
  for (const subnet of subnets) {
    const cidr = tryParseCidr(subnet);
    if (cidr === undefined) throw invalid('INVALID_CIDR', `invalid subnet ${subnet}: invalid CIDR address`, 'subnet');
    for (const other of entries) {
      if (containsText(other.cidr, subnet) || containsText(cidr, other.config.Subnet)) {
        throw invalid('USAGE', 'multiple overlapping subnet configuration is not supported', 'subnet');
      }
    }
    entries.push({ cidr, config: { Subnet: subnet } });
  }

  for (const range of ipRanges) {
    const owners = fileUnder(entries, range, `no matching subnet for range ${range}`, 'ip-range');
    for (const owner of owners) {
      if (owner.config.IPRange !== undefined) {
        throw invalid('USAGE', `cannot configure multiple ranges (${range}, ${owner.config.IPRange}) on the same subnet (${owner.config.Subnet})`, 'ip-range');
      }
      owner.config.IPRange = range;
    }
  }
  for (const gateway of gateways) {
    const owners = fileUnder(entries, gateway, `no matching subnet for gateway ${gateway}`, 'gateway');
    for (const owner of owners) {
      if (owner.config.Gateway !== undefined) {
        throw invalid('USAGE', `cannot configure multiple gateways (${gateway}, ${owner.config.Gateway}) for the same subnet (${owner.config.Subnet})`, 'gateway');
      }
      owner.config.Gateway = gateway;
    }
  }
  for (const [key, address] of Object.entries(auxAddressMap(flags.auxAddresses))) {
    for (const owner of fileUnder(entries, address, `no matching subnet for aux-address ${address}`, 'aux-address')) {
      (owner.config.AuxiliaryAddresses ??= {})[key] = address;
    }
  }
  return entries.map((e) => e.config);
}

function fileUnder(entries: SubnetEntry[], value: string, error: string, field: string): SubnetEntry[] {
  const owners = entries.filter((e) => containsText(e.cidr, value));
  if (owners.length === 0) throw invalid('USAGE', error, field);
  return owners;
}

/** Whether `text` (an address or a CIDR, whose address is used) lies inside `cidr`. */
function containsText(cidr: Cidr, text: string): boolean {
  const slash = text.indexOf('/');
  const addr = tryParseIp(slash < 0 ? text : text.slice(0, slash));
  return addr !== undefined && cidrContains(cidr, addr);
}

function auxAddressMap(entries: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) {
      throw invalid('USAGE', `invalid argument "${entry}" for "--aux-address": expected NAME=IP`, 'aux-address');
    }
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}
