/**
 * `switchyard node ls|inspect|rm`: the cluster's hosts (docs/CLUSTER.md). Columns as
 * docs/CLI.md: ID NAME ADDRESS STATUS SELF; `--format` takes json, table or a Go template
 * over the fields of GET /nodes (ID, Name, Address, DataPathAddress, DataPathPort, Status,
 * Self, Started).
 */
import type { NodeJson, SwitchyardClient } from '../api/client.js';
import type { Command } from './command-line.js';
import type { CliIo } from './cli-io.js';
import { forEachRef, inspectEach } from './multi-ref.js';
import { formatList, type ListFormat } from './output-format.js';

type NodeCommand = Extract<Command, { name: `node ${string}` }>;

const NODE_LIST_FORMAT: ListFormat = {
  defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Address}}\t{{.Status}}\t{{.Self}}',
  headers: {
    ID: 'ID',
    Name: 'NAME',
    Address: 'ADDRESS',
    DataPathAddress: 'DATA PATH ADDRESS',
    DataPathPort: 'DATA PATH PORT',
    Status: 'STATUS',
    Self: 'SELF',
    Started: 'STARTED',
  },
};

function nodeRow(n: NodeJson): Record<string, string> {
  return {
    ID: n.ID.slice(0, 12),
    Name: n.Name,
    Address: n.Address,
    DataPathAddress: n.DataPathAddress,
    DataPathPort: String(n.DataPathPort),
    Status: n.Status,
    Self: String(n.Self),
    Started: n.Started,
  };
}

export async function runNodeCommand(command: NodeCommand, client: SwitchyardClient, io: CliIo): Promise<number> {
  switch (command.name) {
    case 'node ls': {
      const nodes = await client.listNodes();
      io.stdout.write(formatList(command.format === 'json' ? nodes : nodes.map(nodeRow), NODE_LIST_FORMAT, command.format));
      return 0;
    }
    case 'node inspect':
      return inspectEach(command.refs, (ref) => client.inspectNode(ref), command.format, io);
    case 'node rm':
      return forEachRef(command.refs, io, async (ref) => {
        await client.removeNode(ref, command.force);
        io.stdout.write(`${ref}\n`);
      });
  }
}
