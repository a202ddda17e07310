/** version, info and firewall reload. */
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';
import type { SwitchyardClient } from '../api/client.js';
import { MAX_API_VERSION } from '../api/api-version.js';
import { asSwitchyardError } from '../errors.js';
import type { Command } from './command-line.js';
import { printError, type CliIo } from './cli-io.js';
import { exitCodeFor } from './exit-code.js';

type SystemCommand = Extract<Command, { name: 'version' | 'info' | 'firewall reload' }>;

export async function runSystemCommand(command: SystemCommand, client: SwitchyardClient, io: CliIo): Promise<number> {
  switch (command.name) {
    case 'firewall reload':
      await client.firewallReload();
      return 0;
    case 'version':
      return printVersion(client, io, command.format);
    case 'info':
      return printInfo(client, io, command.format);
  }
}

/** The CLI's own version, from the package.json of the checkout it runs from. */
export function clientVersion(): string {
  for (const relative of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'switchyard' && pkg.version) return pkg.version;
    } catch {
      // try the next layout (dist/src/cli or src/cli)
    }
  }
  return 'unknown';
}

const goArch = (): string => ({ x64: 'amd64', ia32: '386' })[arch()] ?? arch();

/** Like `docker version`: the client part always, the server part when the daemon answers. */
async function printVersion(client: SwitchyardClient, io: CliIo, format: string | undefined): Promise<number> {
  const clientPart = { Version: clientVersion(), ApiVersion: MAX_API_VERSION, GoVersion: `node ${process.version}`, Os: 'linux', Arch: goArch() };
  let server: Record<string, unknown> | undefined;
  let failure: unknown;
  try {
    server = await client.version();
  } catch (err) {
    failure = err;
  }
  if (format !== undefined) {
    const { renderFormat } = await import('../model/go-template.js');
    io.stdout.write(renderFormat(format, [{ Client: clientPart, Server: server ?? null }]));
  } else {
    io.stdout.write(
      section('Client:', [
        ['Version', clientPart.Version],
        ['API version', clientPart.ApiVersion],
        ['Node version', process.version],
        ['OS/Arch', `linux/${clientPart.Arch}`],
      ]),
    );
    if (server !== undefined) {
      io.stdout.write(
        `\nServer: Switchyard\n Engine:\n${section('', [
          ['Version', String(server['Version'] ?? '')],
          ['API version', `${String(server['ApiVersion'] ?? '')} (minimum version ${String(server['MinAPIVersion'] ?? '')})`],
          ['Node version', String(server['GoVersion'] ?? '').replace(/^node /, '')],
          ['Git commit', String(server['GitCommit'] ?? '')],
          ['OS/Arch', `${String(server['Os'] ?? '')}/${String(server['Arch'] ?? '')}`],
          ['Kernel version', String(server['KernelVersion'] ?? '')],
        ], '  ')}`,
      );
    }
  }
  if (failure !== undefined) {
    printError(io, asSwitchyardError(failure).message);
    return exitCodeFor(failure);
  }
  return 0;
}

async function printInfo(client: SwitchyardClient, io: CliIo, format: string | undefined): Promise<number> {
  const info = await client.info();
  if (format !== undefined) {
    const { renderFormat } = await import('../model/go-template.js');
    io.stdout.write(renderFormat(format, [info]));
    return 0;
  }
  const v = (key: string): string => String(info[key] ?? '');
  io.stdout.write(
    `Server:\n${section('', [
      ['Sandboxes', v('Containers')],
      [' Running', v('ContainersRunning')],
      [' Stopped', v('ContainersStopped')],
      ['Networks', v('Networks')],
      ['Server Version', v('ServerVersion')],
      ['Network Plugins', ((info['Plugins'] as { Network?: string[] } | undefined)?.Network ?? []).join(' ')],
      ['Firewall', info['Firewall'] === false ? 'disabled' : 'nftables'],
      ['Kernel Version', v('KernelVersion')],
      ['Operating System', v('OperatingSystem')],
      ['Architecture', v('Architecture')],
      ['CPUs', v('NCPU')],
      ['Total Memory', `${(Number(info['MemTotal'] ?? 0) / 1024 ** 3).toFixed(2)}GiB`],
      ['Name', v('Name')],
      ['ID', v('ID')],
      ['Data Root Dir', v('DockerRootDir')],
      ['Exec Root Dir', v('ExecRoot')],
      // Docker 1.9–20.10 printed these only when a cluster store was set.
      ...(v('ClusterStore') ? ([['Cluster Store', v('ClusterStore')], ['Cluster Advertise', v('ClusterAdvertise')]] as [string, string][]) : []),
    ])}`,
  );
  for (const warning of (info['Warnings'] as string[] | null) ?? []) io.stderr.write(`WARNING: ${warning}\n`);
  return 0;
}

/** " Key:   value" lines, values aligned like docker's version template. */
function section(title: string, rows: [string, string][], indent = ' '): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const body = rows.map(([k, val]) => `${indent}${`${k}:`.padEnd(width)} ${val}\n`).join('');
  return title ? `${title}\n${body}` : body;
}
