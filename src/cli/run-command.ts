/**
 * `switchyard run`: create and start a sandbox; with -d print its ID, otherwise stay
 * attached (its output on our stdout) and exit with the command's status, as `docker run`.
 */
import type { SwitchyardClient } from '../api/client.js';
import type { Command } from './command-line.js';
import type { CliIo } from './cli-io.js';
import { RUN_FAILED_EXIT } from './exit-code.js';
import { streamLogs } from './sandbox-commands.js';

type RunCommand = Extract<Command, { name: 'run' }>;

export async function runRunCommand(command: RunCommand, client: SwitchyardClient, io: CliIo): Promise<number> {
  const created = await client.createSandbox(command.request);
  for (const warning of created.Warnings ?? []) io.stderr.write(`WARNING: ${warning}\n`);
  const id = created.Id;

  // `run` is one operation for the user: when the start fails (a port taken, a network
  // full), the sandbox it just created goes too, so a failed run leaves nothing behind.
  try {
    await client.startSandbox(id);
  } catch (err) {
    await client.removeSandbox(id, true).catch(() => undefined);
    throw err;
  }
  if (command.detach) {
    io.stdout.write(`${id}\n`);
    return 0;
  }

  const cleanUp = async (): Promise<void> => {
    if (command.removeAfter) await client.removeSandbox(id, true).catch(() => undefined);
  };

  // Ctrl-C or SIGTERM stops the sandbox (docker's signal proxy, simplified); the normal
  // path below then collects its exit status and removes it if asked.
  const stopOnSignal = (): void => {
    void client.stopSandbox(id).catch(() => undefined);
  };
  process.on('SIGINT', stopOnSignal);
  process.on('SIGTERM', stopOnSignal);
  try {
    await streamLogs(client, id, true, io);
    return await client.waitSandbox(id);
  } catch (err) {
    // A failure after the command started is still Switchyard's: keep docker's 125.
    io.stderr.write(`Error: ${(err as Error).message}\n`);
    return RUN_FAILED_EXIT;
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    await cleanUp();
  }
}
