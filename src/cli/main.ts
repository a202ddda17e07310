/**
 * The `switchyard` command: parse the command line, then load only the module the
 * command needs (start-up time matters for a CLI run in loops by scripts and tests).
 * Errors become one `Error: …` line on stderr and the exit status of exit-code.ts.
 */
import { pathToFileURL } from 'node:url';
import { asSwitchyardError } from '../errors.js';
import { parseCommandLine, type Plan } from './command-line.js';
import { printError, processIo, type CliIo } from './cli-io.js';
import { exitCodeFor } from './exit-code.js';

/**
 * Runs one command line; resolves with the exit status, or undefined for `daemon`
 * (which keeps the process alive after it resolves and exits on its own).
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number | undefined> {
  let plan: Plan;
  try {
    plan = parseCommandLine(argv, { env: process.env });
  } catch (err) {
    printError(io, asSwitchyardError(err).message);
    return exitCodeFor(err);
  }
  const { command } = plan;
  if (command.name === 'daemon') {
    const { runDaemon } = await import('../daemon/main.js');
    await runDaemon(command.args);
    return undefined;
  }
  if (command.name === 'help') {
    const { helpText } = await import('./help.js');
    io.stdout.write(helpText(command.topic));
    return 0;
  }

  if (command.name === 'system reset') {
    // Needs no daemon (it stops one if it runs): no API client.
    try {
      const { runSystemReset } = await import('./system-reset.js');
      const { socketPathOf } = await import('../api/host.js');
      return await runSystemReset({ ...command, socket: socketPathOf(plan.host) }, io);
    } catch (err) {
      printError(io, asSwitchyardError(err).message);
      return exitCodeFor(err, { command: command.name });
    }
  }

  const { SwitchyardClient } = await import('../api/client.js');
  const client = new SwitchyardClient({ host: plan.host });
  try {
    switch (command.name) {
      case 'network create':
      case 'network ls':
      case 'network inspect':
      case 'network rm':
      case 'network prune':
      case 'network connect':
      case 'network disconnect':
        return await (await import('./network-commands.js')).runNetworkCommand(command, client, io);
      case 'node ls':
      case 'node inspect':
      case 'node rm':
        return await (await import('./node-commands.js')).runNodeCommand(command, client, io);
      case 'run':
        return await (await import('./run-command.js')).runRunCommand(command, client, io);
      case 'exec':
        return await (await import('./exec-command.js')).runExecCommand(command, client);
      case 'ps':
      case 'inspect':
      case 'logs':
      case 'stop':
      case 'start':
      case 'rm':
      case 'port':
      case 'rename':
        return await (await import('./sandbox-commands.js')).runSandboxCommand(command, client, io);
      case 'version':
      case 'info':
      case 'firewall reload':
        return await (await import('./system-commands.js')).runSystemCommand(command, client, io);
    }
  } catch (err) {
    printError(io, asSwitchyardError(err).message);
    return exitCodeFor(err, { command: command.name });
  } finally {
    client.close();
  }
}

/** Exits once stdout has taken everything (a pipe to `head` may close early: that is fine). */
export async function runAsProcess(argv: readonly string[]): Promise<void> {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const status = await main(argv);
  if (status !== undefined) process.exit(status);
}

// `node dist/src/cli/main.js …` (package.json "start") runs it directly.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void runAsProcess(process.argv.slice(2));
}
