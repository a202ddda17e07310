/**
 * `switchyard exec SANDBOX -- CMD…`: runs CMD inside the sandbox's namespaces with
 * nsenter(1), stdio inherited, and exits with CMD's status. A sandbox in host network
 * mode has no network namespace of its own, so only its UTS, mount and PID namespaces are
 * entered (the hostname, /etc/hosts and /etc/resolv.conf it was given).
 *
 * security (docs/SECURITY.md): CMD gets the sandbox's own capability set (setpriv, as
 * the sandbox's command) and its PID namespace; nsenter and setpriv run by absolute path
 * with a fixed environment, and the sandbox's Env (plus -e) is applied by `env -i` for
 * CMD only, so whoever created the sandbox cannot choose what the operator's host-side
 * root process loads.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import { effectiveCapabilities, normalizeCapabilities, setprivCapList } from '../model/capabilities.js';
import { commandArgv, commandEnv } from '../model/sandbox-env.js';
import { TOOL_ENV, systemTool } from '../kernel/system-tools.js';
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
  checkTarget(sandbox);
  const args = nsenterArgs(sandbox, command.cmd, command.env);

  // The terminal sends Ctrl-C to the whole process group: the command decides what it
  // means, and we wait for its status instead of dying first.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(systemTool('nsenter'), args, { stdio: 'inherit', env: { ...TOOL_ENV } });
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

/**
 * The recorded pid must still be the sandbox's (a pid is reused once its process is gone):
 * its network namespace is the one pinned at SandboxKey.
 */
function checkTarget(sandbox: Pick<SandboxInspect, 'State' | 'NetworkSettings'>): void {
  const key = sandbox.NetworkSettings.SandboxKey;
  if (!key) return;
  let same = true;
  try {
    const a = fs.statSync(`/proc/${sandbox.State.Pid}/ns/net`);
    const b = fs.statSync(key);
    same = a.ino === b.ino && a.dev === b.dev;
  } catch {
    same = false;
  }
  if (!same) throw conflict('SANDBOX_NOT_RUNNING', `sandbox process ${sandbox.State.Pid} is gone or no longer the sandbox's (its network namespace is not ${key})`);
}

/**
 * nsenter's arguments: the sandbox's process, its namespaces, then setpriv with the
 * sandbox's capabilities (none for --privileged) and env -i with the sandbox's Env and -e.
 */
export function nsenterArgs(sandbox: Pick<SandboxInspect, 'State' | 'HostConfig' | 'NetworkSettings' | 'Config'>, cmd: string[], extraEnv: readonly string[] = []): string[] {
  const namespaces = ['--uts', '--mount'];
  if (sandbox.HostConfig.NetworkMode !== 'host' && sandbox.NetworkSettings.SandboxKey !== '') namespaces.unshift('--net');
  // State.Pid is the sandbox's outer process (unshare): the sandbox's PID namespace is the one it made for its children.
  if (sandbox.HostConfig.PidMode !== 'host') namespaces.push(`--pid=/proc/${sandbox.State.Pid}/ns/pid_for_children`);
  const hc = sandbox.HostConfig;
  const env = [systemTool('env'), '-i', ...commandEnv(sandbox.Config.Env ?? [], extraEnv), ...commandArgv(cmd)];
  const caps = effectiveCapabilities({
    capAdd: normalizeCapabilities(hc.CapAdd ?? [], 'CapAdd'),
    capDrop: normalizeCapabilities(hc.CapDrop ?? [], 'CapDrop'),
    privileged: !!hc.Privileged,
  });
  const limited = hc.Privileged ? env : [systemTool('setpriv'), '--bounding-set', setprivCapList(caps), '--inh-caps', setprivCapList(caps), '--', ...env];
  return ['--target', String(sandbox.State.Pid), ...namespaces, '--', ...limited];
}
