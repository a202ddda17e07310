/**
 * End-to-end: a Linux bridge holds at most 1,023 ports (BR_PORT_BITS = 10). The 1,024th
 * sandbox on one network gets a clear error instead of the kernel's "exchange full",
 * and leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon } from '../helpers/daemon.js';
import { linksIn } from '../helpers/netns.js';

test('the per-bridge port limit is reported clearly (e2e)', async () => {
  const d = await startDaemon({ tag: 'lim' });
  try {
    d.cli(['network', 'create', '--subnet', '10.204.0.0/20', 'big']);
    let next = 0;
    const worker = async () => {
      while (next < 1023) {
        const i = next++;
        const { Id } = await d.client.createSandbox({ Name: `b${i}`, Cmd: ['sleep', 'infinity'], NetworkMode: 'big' });
        await d.client.startSandbox(Id);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    const r = d.cli(['run', '-d', '--name', 'one-too-many', '--network', 'big', '--', 'sleep', 'infinity'], { allowFail: true });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /network big is full: a Linux bridge holds at most 1023 ports/);
    assert.doesNotMatch(d.cli(['ps', '-a', '--format', '{{.Names}}']).stdout, /one-too-many/);
    assert.equal(linksIn(d.host.name).filter((l) => l.startsWith('syv')).length, 1023);
  } finally {
    await d.stop();
  }
});
