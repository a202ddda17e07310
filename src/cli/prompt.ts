/** Yes/no confirmation for destructive commands (`network prune` without -f). */
import { createInterface } from 'node:readline';
import type { CliIo } from './cli-io.js';

/**
 * Asks on stdout and reads one line from stdin; only "y"/"yes" confirm. A closed or empty
 * stdin (CI, `</dev/null`) answers "no", so nothing is removed without -f.
 */
export function confirm(io: CliIo, question: string): Promise<boolean> {
  io.stdout.write(question);
  return new Promise((resolve) => {
    const rl = createInterface({ input: io.stdin, terminal: false });
    let answered = false;
    const finish = (answer: boolean): void => {
      if (answered) return;
      answered = true;
      rl.close();
      io.stdin.pause();
      if (!io.stdin.isTTY) io.stdout.write('\n');
      resolve(answer);
    };
    rl.once('line', (line) => finish(/^\s*y(es)?\s*$/i.test(line)));
    rl.once('close', () => finish(false));
  });
}
