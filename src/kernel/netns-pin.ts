/**
 * Re-pins the network namespace of a live process at nsPath (the sandbox's namespace
 * file was unmounted from outside while its process kept the namespace alive).
 */
import * as fs from 'node:fs';
import { MS_BIND, mount } from './libc.js';

export function pinProcessNetns(pid: number, nsPath: string): void {
  fs.writeFileSync(nsPath, '', { mode: 0o400 });
  mount(`/proc/${pid}/ns/net`, nsPath, 'none', MS_BIND);
}
