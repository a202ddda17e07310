/**
 * The plugin process: environment and stdin in, dispatch, exit code out. Loaded by
 * bin/cni/switchyard; imports only node:fs/node:net and this folder (no engine, no FFI).
 */
import { existsSync, readFileSync } from 'node:fs';
import { DaemonBackend, socketOf } from './daemon-backend.js';
import { dispatch } from './dispatch.js';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return ''; // no stdin (a closed or absent fd 0): VERSION needs none, the rest fails to decode
  }
}

export const ABOUT = 'CNI plugin switchyard: attaches CNI_NETNS to a Switchyard network through the daemon (docs/frontends/cni.md)';

export async function runPlugin(): Promise<void> {
  if (!process.env['CNI_COMMAND']) {
    // What libcni-based plugins do when run by hand: say what they are and exit 0.
    process.stderr.write(`${ABOUT}\n`);
    return;
  }
  const code = await dispatch({
    env: process.env,
    stdin: readStdin(),
    stdout: process.stdout,
    backend: (conf) => new DaemonBackend(socketOf(conf.host)),
    netnsExists: existsSync,
  });
  process.exitCode = code;
}
