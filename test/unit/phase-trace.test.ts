/** engine/phase-trace.ts: off unless SWY_TRACE_PHASES=1; its log line parses back (bench/cluster.ts reads the daemons' logs). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhaseTrace, parsePhaseLines } from '../../src/engine/phase-trace.js';

test('PhaseTrace: off by default, on with SWY_TRACE_PHASES=1; its line parses back, phases in order summing to the total', () => {
  const before = process.env.SWY_TRACE_PHASES;
  try {
    delete process.env.SWY_TRACE_PHASES;
    assert.equal(PhaseTrace.start('connect n'), undefined);
    process.env.SWY_TRACE_PHASES = '1';
    const t = PhaseTrace.start('connect gnet')!;
    assert.ok(t);
    t.mark('plan');
    const until = performance.now() + 2;
    while (performance.now() < until); // a phase of ≥ 2 ms
    t.mark('shared-txn');
    const line = t.line();
    assert.match(line, /^phases connect gnet total=\d+\.\d\d plan=\d+\.\d\d shared-txn=\d+\.\d\d$/);
    const text = `2026-12-02T20:00:00Z info ${line}\nsome other line\n2026-12-02T20:00:01Z info phases detach gnet total=1.00 x=1.00\n`;
    const [rec, ...rest] = parsePhaseLines(text, 'connect');
    assert.equal(rest.length, 0, 'only the connect line');
    assert.deepEqual(Object.keys(rec!), ['total', 'plan', 'shared-txn']);
    assert.ok(rec!['shared-txn']! >= 2);
    assert.ok(Math.abs(rec!.plan! + rec!['shared-txn']! - rec!.total!) < 0.02);
    assert.equal(parsePhaseLines(text, 'connect other').length, 0, 'another network\'s lines are not these');
  } finally {
    if (before === undefined) delete process.env.SWY_TRACE_PHASES;
    else process.env.SWY_TRACE_PHASES = before;
  }
});
