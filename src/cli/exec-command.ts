/**
 * `switchyard exec SANDBOX -- CMD…`: runs CMD inside the sandbox's namespaces with
 * nsenter(1), stdio inherited, and exits with CMD's status. A sandbox in host network
 * mode has no network namespace of its own, so only its UTS and mount namespaces are
 * entered (the hostname, /etc/hosts and /etc/resolv.conf it was given).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { SwitchyardClient } from '../api/client.js';
import type { SandboxInspect } from '../api/docker-views.js';
import { conflict, unavailable } from '../errors.js';
import type { Command } from './command-line.js';
import { exitCodeOfChild } from './exit-code.js';

type ExecCommand = Extract<Command, { name: 'exec' }>;

export async function runExecCommand(command: ExecCommand, client: SwitchyardClient): Promise<number> {
  const sandbox = await client.inspectSandbox(command.sandbox);
  if (!sandbox.State.Running || sandbox.State.Pid <= 0) {
    throw conflict('SANDBOX_NOT_RUNNING', `sandbox ${command.sandbox} is not running`);
  }
  const args = nsenterArgs(sandbox, command.cmd);
  const env = { ...process.env, ...envObject(sandbox.Config.Env), ...envObject(command.env) };

  // The terminal sends Ctrl-C to the whole process group: the command decides what it
  // means, and we wait for its status instead of dying first.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn('nsenter', args, { stdio: 'inherit', env });
      child.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'ENOENT'
            ? unavailable('NSENTER_MISSING', 'nsenter not found in PATH: install util-linux', err)
            : unavailable('EXEC_FAILED', `could not run nsenter: ${err.message}`, err),
        );
      });
      child.once('exit', (code, signal) => resolve(exitCodeOfChild(code, signal, constants.signals)));
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
  }
}

/** nsenter's arguments: the sandbox's process, its namespaces, then the command. */
export function nsenterArgs(sandbox: Pick<SandboxInspect, 'State' | 'HostConfig' | 'NetworkSettings'>, cmd: string[]): string[] {
  const namespaces = ['--uts', '--mount'];
  if (sandbox.HostConfig.NetworkMode !== 'host' && sandbox.NetworkSettings.SandboxKey !== '') namespaces.unshift('--net');
  return ['--target', String(sandbox.State.Pid), ...namespaces, '--', ...cmd];
}

function envObject(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}
