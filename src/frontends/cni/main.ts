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

export async function runPlugin(): Promise<void> {
  const code = await dispatch({
    env: process.env,
    stdin: readStdin(),
    stdout: process.stdout,
    backend: (conf) => new DaemonBackend(socketOf(conf.host)),
    netnsExists: existsSync,
  });
  process.exitCode = code;
}
