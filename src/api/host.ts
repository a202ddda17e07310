/**
 * Where the daemon listens, as `-H`/SWITCHYARD_HOST spell it. Kept apart from the client so
 * the CLI can parse its command line without loading node:http (start-up time).
 */
import { invalid } from '../errors.js';

export const DEFAULT_HOST = 'unix:///run/switchyard/switchyard.sock';

/** The socket path of a `-H`/SWITCHYARD_HOST value; only unix sockets are served here. */
export function socketPathOf(host: string): string {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (path.startsWith('/')) return path;
  } else if (host.startsWith('/')) {
    return host;
  }
  throw invalid('BAD_HOST', `invalid host "${host}": expected unix:///absolute/path.sock`, 'host');
}
