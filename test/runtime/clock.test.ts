import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../runtime/index.ts';

test('ManualClock fires due callbacks in deadline order, ties in scheduling order', () => {
  const clock = new ManualClock(100);
  const fired: string[] = [];
  clock.schedule(130, () => fired.push(`c@${clock.now()}`));
  clock.schedule(110, () => fired.push(`a@${clock.now()}`));
  clock.schedule(130, () => fired.push(`d@${clock.now()}`));
  clock.schedule(120, () => fired.push(`b@${clock.now()}`));
  clock.schedule(200, () => fired.push('late'));
  clock.advance(30);
  assert.deepEqual(fired, ['a@110', 'b@120', 'c@130', 'd@130']);
  assert.equal(clock.now(), 130);
  assert.equal(clock.nextDeadline(), 200);
});

test('cancelled callbacks never fire and callbacks scheduled while firing are honoured', () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  const h = clock.schedule(10, () => fired.push(10));
  clock.schedule(5, () => clock.schedule(8, () => fired.push(8)));
  clock.cancel(h);
  clock.advance(20);
  assert.deepEqual(fired, [8]);
  assert.equal(clock.pending(), 0);
  assert.equal(clock.nextDeadline(), undefined);
});

test('afterFire listeners run after each callback', () => {
  const clock = new ManualClock();
  const log: string[] = [];
  clock.afterFire(() => log.push('settle'));
  clock.schedule(1, () => log.push('one'));
  clock.schedule(2, () => log.push('two'));
  clock.advance(2);
  assert.deepEqual(log, ['one', 'settle', 'two', 'settle']);
});

test('advance rejects negative or NaN steps', () => {
  const clock = new ManualClock();
  assert.throws(() => clock.advance(-1), RangeError);
  assert.throws(() => clock.advance(Number.NaN), RangeError);
});
