/**
 * ps, inspect, logs, stop, start, rm, port and rename: docker's container commands, for sandboxes.
 */
import type { SwitchyardClient } from '../api/client.js';
import type { DockerPortBinding, SandboxSummary } from '../api/docker-views.js';
import { humanDuration } from '../api/human-duration.js';
import { asSwitchyardError, notFound } from '../errors.js';
import type { Command } from './command-line.js';
import type { CliIo } from './cli-io.js';
import { forEachRef, inspectEach } from './multi-ref.js';
import { formatList, goTimeString, type ListFormat } from './output-format.js';

type SandboxCommand = Extract<Command, { name: 'ps' | 'inspect' | 'logs' | 'stop' | 'start' | 'rm' | 'port' | 'rename' }>;

export async function runSandboxCommand(command: SandboxCommand, client: SwitchyardClient, io: CliIo): Promise<number> {
  switch (command.name) {
    case 'ps': {
      const list = await client.listSandboxes(command.all);
      const now = Date.now();
      io.stdout.write(formatList(list.map((s) => psRow(s, now, command.noTrunc)), PS_FORMAT, command.format, command.quiet));
      return 0;
    }
    case 'inspect':
      return inspectEach(command.refs, (ref) => inspectAny(client, ref, command.type), command.format, io);
    case 'logs':
      await streamLogs(client, command.sandbox, command.follow, io);
      return 0;
    case 'stop':
      return forEachRef(command.refs, io, async (ref) => {
        await client.stopSandbox(ref, command.timeout);
        io.stdout.write(`${ref}\n`);
      });
    case 'start':
      return forEachRef(command.refs, io, async (ref) => {
        await client.startSandbox(ref);
        io.stdout.write(`${ref}\n`);
      });
    case 'rm':
      return forEachRef(command.refs, io, async (ref) => {
        await client.removeSandbox(ref, command.force);
        io.stdout.write(`${ref}\n`);
      });
    case 'rename':
      // docker rename prints nothing on success.
      await client.renameSandbox(command.sandbox, command.newName);
      return 0;
    case 'port': {
      const sandbox = await client.inspectSandbox(command.sandbox);
      io.stdout.write(portLines(command.sandbox, sandbox.NetworkSettings.Ports, command.privatePort));
      return 0;
    }
  }
}

/** Streams the log to stdout; with follow, until the sandbox stops. */
export async function streamLogs(client: SwitchyardClient, ref: string, follow: boolean, io: CliIo): Promise<void> {
  const stream = await client.sandboxLogs(ref, follow);
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      if (!io.stdout.write(chunk)) {
        stream.pause();
        io.stdout.once('drain', () => stream.resume());
      }
    });
    stream.on('end', resolve);
    stream.on('error', reject);
    stream.on('aborted', () => reject(new Error('the daemon closed the log stream')));
  });
}

/** `inspect NAME`: a sandbox first, then a network, as docker inspect looks through object types. */
async function inspectAny(client: SwitchyardClient, ref: string, type: 'sandbox' | 'network' | undefined): Promise<unknown> {
  if (type === 'network') return client.inspectNetwork(ref);
  try {
    return await client.inspectSandbox(ref);
  } catch (err) {
    if (type === 'sandbox' || asSwitchyardError(err).kind !== 'not-found') throw err;
  }
  try {
    return await client.inspectNetwork(ref);
  } catch (err) {
    if (asSwitchyardError(err).kind === 'not-found') throw notFound('NO_SUCH_OBJECT', `No such object: ${ref}`);
    throw err;
  }
}

const PS_FORMAT: ListFormat = {
  defaultTable: 'table {{.ID}}\t{{.Names}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Networks}}',
  headers: {
    ID: 'CONTAINER ID',
    Names: 'NAMES',
    Command: 'COMMAND',
    CreatedAt: 'CREATED AT',
    RunningFor: 'CREATED',
    Status: 'STATUS',
    State: 'STATE',
    Ports: 'PORTS',
    Networks: 'NETWORKS',
    Labels: 'LABELS',
  },
};

/** The fields `ps --format` offers (docker's ContainerContext), all strings. */
function psRow(s: SandboxSummary, nowMs: number, noTrunc: boolean): Record<string, string> {
  const created = s.Created * 1000;
  return {
    // strconv.Quote of the (truncated) command line.
    Command: JSON.stringify(noTrunc ? s.Command : ellipsis(s.Command, 20)),
    CreatedAt: goTimeString(new Date(created).toISOString().replace('.000Z', 'Z')),
    ID: noTrunc ? s.Id : s.Id.slice(0, 12),
    Labels: '',
    Names: s.Names.map((n) => n.replace(/^\//, '')).join(','),
    Networks: Object.keys(s.NetworkSettings.Networks).join(','),
    Ports: displayPorts(s.Ports),
    RunningFor: `${humanDuration(Math.max(0, nowMs - created))} ago`,
    State: s.State,
    Status: s.Status,
  };
}

/** docker's formatter.Ellipsis: cut to `max` characters, the last one being "…". */
function ellipsis(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp" (docker 28's DisplayablePorts). */
function displayPorts(ports: SandboxSummary['Ports']): string {
  return ports
    .map((p) =>
      p.PublicPort !== undefined ? `${hostAddress(p.IP ?? '', p.PublicPort)}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`,
    )
    .join(', ');
}

function hostAddress(ip: string, port: number | string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip || '0.0.0.0'}:${port}`;
}

/**
 * `docker port` output: "80/tcp -> 0.0.0.0:8080" per binding; with PRIVATE_PORT[/PROTO],
 * just the host addresses of that port.
 */
export function portLines(
  name: string,
  ports: Record<string, DockerPortBinding[] | null>,
  privatePort: string | undefined,
): string {
  const keys = Object.keys(ports).sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10) || (a < b ? -1 : 1));
  if (privatePort !== undefined) {
    const key = privatePort.includes('/') ? privatePort : `${privatePort}/tcp`;
    const bindings = ports[key];
    if (!bindings || bindings.length === 0) {
      throw notFound('NO_PUBLIC_PORT', `No public port '${key}' published for ${name}`);
    }
    return bindings.map((b) => `${hostAddress(b.HostIp, b.HostPort)}\n`).join('');
  }
  return keys.flatMap((key) => (ports[key] ?? []).map((b) => `${key} -> ${hostAddress(b.HostIp, b.HostPort)}\n`)).join('');
}
