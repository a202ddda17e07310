/**
 * ProcessWatch (kernel/sandbox-process.ts): processes that are not our children, watched
 * through pidfds and one poll(). Real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { ProcessWatch } from '../../src/kernel/sandbox-process.js';
import { waitFor } from '../helpers/netns.js';

const startTime = (pid: number): string => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};

test('exited() reports a watched process once it ends, and nothing before', async () => {
  const a = spawn('sleep', ['30'], { stdio: 'ignore' });
  const b = spawn('sleep', ['30'], { stdio: 'ignore' });
  const w = new ProcessWatch();
  try {
    assert.equal(w.watch('a', a.pid!, startTime(a.pid!)), true);
    assert.equal(w.watch('b', b.pid!, startTime(b.pid!)), true);
    assert.deepEqual(w.exited(), []);
    a.kill('SIGKILL');
    await waitFor(() => w.exited().includes('a') || undefined, 'exit of a', 5000, 10);
    assert.deepEqual(w.keys(), ['b'], 'an exited process is no longer watched');
    assert.equal(w.has('b', b.pid!), true);
    assert.equal(w.has('b', b.pid! + 1), false);
  } finally {
    w.close();
    a.kill('SIGKILL');
    b.kill('SIGKILL');
  }
  assert.deepEqual(w.keys(), []);
});

test('watch() refuses a process that is gone, or a pid now held by another process (start time differs)', async () => {
  const c = spawn('sleep', ['30'], { stdio: 'ignore' });
  const w = new ProcessWatch();
  try {
    assert.equal(w.watch('wrong-start', c.pid!, '1'), false);
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    assert.equal(w.watch('gone', c.pid!, undefined), false);
    assert.deepEqual(w.keys(), []);
  } finally {
    w.close();
  }
});
