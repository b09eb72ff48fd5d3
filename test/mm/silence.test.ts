/**
 * When mm finds its broker silent (actors/mm/silence.ts), on a ManualClock: a request owed its PUBACK
 * for `silentMs` with nothing heard is silence, to the millisecond; a PUBACK in time, or anything
 * heard from the broker meanwhile (a slow link busy with service data), is not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SilenceWatch } from '../../actors/mm/silence.ts';
import { ManualClock } from '../../runtime/index.ts';

function watch(silentMs = 500) {
  const clock = new ManualClock(1000);
  const verdicts: Array<{ at: number; waited: number }> = [];
  const w = new SilenceWatch({ clock, silentMs, silent: (waited) => void verdicts.push({ at: clock.now(), waited }) });
  return { w, clock, verdicts };
}

test('a request owed its PUBACK for silentMs, nothing heard: silent, once', () => {
  const { w, clock, verdicts } = watch();
  w.sent();
  clock.advance(499);
  assert.deepEqual(verdicts, []);
  clock.advance(1);
  assert.deepEqual(verdicts, [{ at: 1500, waited: 500 }]);
  w.sent();
  clock.advance(5000);
  assert.equal(verdicts.length, 1, 'one verdict per connection');
  w.reset();
  w.sent();
  clock.advance(500);
  assert.equal(verdicts.length, 2, 'after a reset (the next connection) it watches again');
});

test('a PUBACK in time: nothing, and nothing left scheduled', () => {
  const { w, clock, verdicts } = watch();
  const a = w.sent();
  clock.advance(300);
  const b = w.sent();
  w.acked(a);
  clock.advance(100);
  w.acked(b);
  assert.equal(w.owedCount, 0);
  assert.equal(clock.pending(), 0);
  clock.advance(10_000);
  assert.deepEqual(verdicts, []);
});

test('the oldest owed request counts: a later one acknowledged does not clear it', () => {
  const { w, clock, verdicts } = watch();
  w.sent(); // at 1000, never acknowledged
  clock.advance(200);
  w.acked(w.sent());
  clock.advance(300);
  assert.deepEqual(verdicts, [{ at: 1500, waited: 500 }]);
});

test('anything heard restarts the wait: a slow link whose service PUBACKs trickle in does not flap', () => {
  const { w, clock, verdicts } = watch();
  w.sent(); // a request behind a backlog of service data: its PUBACK waits for the backlog to cross
  for (let i = 0; i < 10; i++) {
    clock.advance(400);
    w.heard(); // a service message's PUBACK
  }
  assert.deepEqual(verdicts, [], '4 s owed, but the broker never went quiet for 500 ms');
  clock.advance(499);
  assert.deepEqual(verdicts, []);
  clock.advance(1);
  assert.deepEqual(verdicts, [{ at: 5500, waited: 500 }], 'silent 500 ms after the last packet heard');
});

test('heard before the request was sent does not shorten the wait', () => {
  const { w, clock, verdicts } = watch();
  w.heard();
  clock.advance(400);
  w.sent();
  clock.advance(499);
  assert.deepEqual(verdicts, []);
  clock.advance(1);
  assert.deepEqual(verdicts, [{ at: 1900, waited: 500 }]);
});

test('reset and close forget what was owed; unknown tokens are ignored', () => {
  const { w, clock, verdicts } = watch();
  const old = w.sent();
  w.reset();
  w.acked(old);
  w.acked(12345);
  clock.advance(1000);
  assert.deepEqual(verdicts, []);
  w.sent();
  w.close();
  clock.advance(1000);
  assert.deepEqual(verdicts, []);
  assert.equal(clock.pending(), 0);
  assert.throws(() => new SilenceWatch({ clock, silentMs: 0, silent: () => {} }), RangeError);
});
