/**
 * `switchyard network …`: the requests and output of docker/cli v28.5.2
 * cli/command/network/*.go, so scripts written for `docker network` read ours unchanged.
 */
import type { DockerNetwork } from '../api/docker-views.js';
import type { SwitchyardClient } from '../api/client.js';
import { asSwitchyardError } from '../errors.js';
import { NETWORK_LIST_FILTERS, NETWORK_PRUNE_FILTERS, filtersToJson, parseFilterFlags } from '../model/filters.js';
import type { Command } from './command-line.js';
import type { CliIo } from './cli-io.js';
import { forEachRef, inspectEach } from './multi-ref.js';
import { formatList, goTimeString, type ListFormat } from './output-format.js';
import { confirm } from './prompt.js';

type NetworkCommand = Extract<Command, { name: `network ${string}` }>;

export async function runNetworkCommand(command: NetworkCommand, client: SwitchyardClient, io: CliIo): Promise<number> {
  switch (command.name) {
    case 'network create': {
      const created = await client.createNetwork({ ...command.request });
      if (created.Warning) io.stderr.write(`WARNING: ${created.Warning}\n`);
      io.stdout.write(`${created.Id}\n`);
      return 0;
    }
    case 'network ls': {
      const filters = command.filters.length > 0 ? filtersToJson(parseFilterFlags(command.filters, NETWORK_LIST_FILTERS)) : undefined;
      const networks = await client.listNetworks(filters);
      // docker sorts on the client, by name (cli/command/network/list.go).
      networks.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      io.stdout.write(formatList(networks.map((n) => networkRow(n, command.noTrunc)), NETWORK_LIST_FORMAT, command.format, command.quiet));
      return 0;
    }
    case 'network inspect':
      return inspectEach(command.refs, (ref) => client.inspectNetwork(ref, command.verbose), command.format, io);
    case 'network rm':
      return forEachRef(command.refs, io, async (ref) => {
        try {
          await client.removeNetwork(ref);
        } catch (err) {
          // -f: a network that is already gone is not an error (docker's `rm -f`).
          if (command.force && asSwitchyardError(err).kind === 'not-found') return;
          throw err;
        }
        io.stdout.write(`${ref}\n`);
      });
    case 'network prune': {
      const filters = command.filters.length > 0 ? filtersToJson(parseFilterFlags(command.filters, NETWORK_PRUNE_FILTERS)) : undefined;
      const warning = 'WARNING! This will remove all custom networks not used by at least one sandbox.\nAre you sure you want to continue? [y/N] ';
      if (!command.force && !(await confirm(io, warning))) return 0;
      const deleted = await client.pruneNetworks(filters);
      if (deleted.length > 0) io.stdout.write(`Deleted Networks:\n${deleted.map((n) => `${n}\n`).join('')}`);
      return 0;
    }
    case 'network connect':
      await client.connectNetwork(command.network, command.sandbox, command.endpoint);
      return 0;
    case 'network disconnect':
      await client.disconnectNetwork(command.network, command.sandbox, command.force);
      return 0;
  }
}

const NETWORK_LIST_FORMAT: ListFormat = {
  defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}',
  headers: {
    ID: 'NETWORK ID',
    Name: 'NAME',
    Driver: 'DRIVER',
    Scope: 'SCOPE',
    IPv4: 'IPV4',
    IPv6: 'IPV6',
    Internal: 'INTERNAL',
    Labels: 'LABELS',
    CreatedAt: 'CREATED AT',
  },
};

/** The fields `network ls --format` offers (docker's networkContext), all strings. */
function networkRow(n: DockerNetwork, noTrunc: boolean): Record<string, string> {
  return {
    CreatedAt: goTimeString(n.Created),
    Driver: n.Driver,
    ID: noTrunc ? n.Id : n.Id.slice(0, 12),
    IPv4: String(n.EnableIPv4),
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: Object.entries(n.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Name: n.Name,
    Scope: n.Scope,
  };
}
