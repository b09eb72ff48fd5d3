import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, PowerCycle } from '../../runtime/index.ts';

test('a power cycle boots, resets after the boot time, ignores an old incarnation, and stays off when switched off', () => {
  const clock = new ManualClock(0);
  let n = 0;
  const stopped: number[] = [];
  const power = new PowerCycle(clock, 100, () => {
    const id = ++n;
    return { id, shutdown: () => stopped.push(id) };
  });
  power.on();
  const first = power.running!;
  assert.equal(first.id, 1);
  assert.equal(power.reset(first), true);
  assert.equal(power.running, null, 'down between the reset and the next boot');
  assert.equal(power.reset(first), false, 'an old incarnation cannot reset again');
  clock.advance(99);
  assert.equal(power.running, null);
  clock.advance(1);
  assert.equal(power.running!.id, 2);
  assert.equal(power.reset(first), false, 'nor reset the new one');
  assert.equal(power.reset(power.running!), true);
  power.off();
  clock.advance(1000);
  assert.equal(power.running, null, 'switched off before the reboot: nothing boots');
  assert.deepEqual(stopped, [1, 2]);
});
