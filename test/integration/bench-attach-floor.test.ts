/**
 * The attach floor's server (bench/attach-floor.ts), against a real etcd: each POST is
 * answered only after its txn applied (etcd's revision has moved when the answer arrives),
 * and closing it stops its process, removes its socket and deletes what it wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEtcd } from '../helpers/etcd.js';
import { openEtcdStore } from '../../src/store/etcd-store.js';
import { startAttachFloor, type AttachFloor } from '../../bench/attach-floor.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('the attach floor answers after one applied txn, and leaves nothing behind', async () => {
  const etcd = await startEtcd();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swy-floor-'));
  const socket = path.join(dir, 'floor.sock');
  const store = await openEtcdStore({ endpoints: etcd.endpoints, prefix: '/switchyard/v1/probe' });
  let floor: AttachFloor | undefined;
  try {
    floor = await startAttachFloor(undefined, etcd.endpoints[0]!, socket);
    for (let i = 0; i < 3; i++) {
      const before = await store.revision();
      await floor.post();
      const after = await store.revision();
      assert.ok(after > before, `POST ${i} answered before its txn applied (revision ${before} → ${after})`);
    }
    await floor.close();
    assert.equal(alive(floor.pid), false, 'the server process exited');
    assert.equal(fs.existsSync(socket), false, 'its socket was removed');
    assert.deepEqual(await store.range('/'), [], 'nothing left under its prefix');
  } finally {
    await floor?.close();
    await store.close();
    await etcd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
