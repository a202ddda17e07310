/**
 * For a bench that needs a kernel feature this machine lacks (ESP, nf_flow_table): runs the
 * compiled bench script itself inside the VM (../shared/kernel-vm/kernel-vm.sh beside the
 * clone, Debian 12's stock kernel, as `npm run test:vm` does) with the given arguments, and
 * sets the exit code to the VM run's.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export function rerunInVm(scriptUrl: string, args: string[], o: { timeoutSeconds: number; modules?: string[] }): void {
  const root = path.resolve(path.dirname(fileURLToPath(scriptUrl)), '../..');
  const kvm = process.env.SWY_KERNEL_VM ?? path.resolve(root, '../shared/kernel-vm/kernel-vm.sh');
  const self = path.relative(root, fileURLToPath(scriptUrl));
  const r = spawnSync(kvm, ['--timeout', String(o.timeoutSeconds), '--timing', '-C', root,
    ...(o.modules?.length ? ['--modules', o.modules.join(',')] : []), '--',
    process.execPath, self, ...args], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}
