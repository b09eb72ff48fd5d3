/**
 * The failover decision (actors/mm/failover.ts) on a ManualClock: which broker next, when, and when
 * the link goes back to the primary.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultFailoverMs, FailoverPlan } from '../../actors/mm/failover.ts';
import { ManualClock } from '../../runtime/index.ts';

function plan(brokers: number, failoverMs = 500, probeEveryMs = 10_000) {
  const clock = new ManualClock();
  const moves: Array<{ at: number; from: number; to: number; reason: string }> = [];
  const probes: number[] = [];
  const p = new FailoverPlan({
    brokers,
    failoverMs,
    probeEveryMs,
    clock,
    actions: {
      failover: (from, to, reason) => void moves.push({ at: clock.now(), from, to, reason }),
      probe: () => void probes.push(clock.now()),
    },
  });
  return { p, clock, moves, probes };
}

test('the default failover is half the interval, within [100 ms, 10 s]', () => {
  assert.equal(defaultFailoverMs(1000), 500);
  assert.equal(defaultFailoverMs(60_000), 10_000);
  assert.equal(defaultFailoverMs(50), 100);
});

test('a lost connection not back within failoverMs moves to the next broker, in order, wrapping', () => {
  const { p, clock, moves } = plan(3);
  p.opened();
  clock.advance(10);
  p.connected();
  clock.advance(1000);
  assert.equal(moves.length, 0, 'up: nothing moves');
  p.lost('ECONNRESET');
  clock.advance(499);
  assert.equal(moves.length, 0, 'not before failoverMs');
  clock.advance(1);
  assert.deepEqual(
    moves.map((m) => [m.at, m.from, m.to]),
    [[1510, 0, 1]],
  );
  assert.match(moves[0]!.reason, /connection lost \(ECONNRESET\); not up within 500 ms/);
  assert.equal(p.current, 1);
  // The backup does not come up either: a failed connect attempt is the next reason, and it moves on.
  p.opened();
  p.attemptFailed('connect ECONNREFUSED 127.0.0.1:1');
  clock.advance(500);
  assert.deepEqual(moves.at(-1)!.to, 2);
  assert.match(moves.at(-1)!.reason, /cannot connect \(connect ECONNREFUSED 127\.0\.0\.1:1\)/);
  p.opened();
  clock.advance(500);
  assert.deepEqual(
    moves.map((m) => [m.from, m.to]),
    [
      [0, 1],
      [1, 2],
      [2, 0],
    ],
    'wraps back to the primary',
  );
});

test('a connection back within failoverMs stays where it is', () => {
  const { p, clock, moves } = plan(2);
  p.opened();
  p.connected();
  p.lost('EPIPE');
  clock.advance(400);
  p.connected();
  clock.advance(5000);
  assert.equal(moves.length, 0);
  assert.equal(p.current, 0);
});

test('a first connect that never comes up fails over after failoverMs', () => {
  const { p, clock, moves } = plan(2);
  p.opened();
  clock.advance(500);
  assert.deepEqual(
    moves.map((m) => [m.at, m.from, m.to]),
    [[500, 0, 1]],
  );
  assert.match(moves[0]!.reason, /no connection yet/);
});

test('one broker: never fails over, never probes', () => {
  const { p, clock, moves, probes } = plan(1);
  p.opened();
  p.connected();
  p.lost('ECONNRESET');
  clock.advance(100_000);
  assert.equal(moves.length, 0);
  assert.equal(probes.length, 0);
  assert.equal(clock.pending(), 0);
});

test('on a backup it probes the primary every probeEveryMs until the probe comes up, then is on the primary', () => {
  const { p, clock, moves, probes } = plan(2, 500, 10_000);
  p.opened();
  clock.advance(500); // primary never came up
  p.opened();
  p.connected(); // on the backup at 500
  clock.advance(9_999);
  assert.deepEqual(probes, []);
  clock.advance(1);
  assert.deepEqual(probes, [10_500]);
  clock.advance(50_000);
  assert.deepEqual(probes, [10_500], 'one probe at a time: the next only once this one is answered');
  p.probeFailed();
  clock.advance(10_000);
  assert.deepEqual(probes, [10_500, 70_500]);
  p.probeUp();
  assert.equal(p.current, 0);
  clock.advance(100_000);
  assert.deepEqual(probes, [10_500, 70_500], 'on the primary: no more probes');
  assert.equal(moves.length, 1);
});

test('a backup lost while a probe is out fails over to the next broker and drops the probe', () => {
  const { p, clock, moves, probes } = plan(3, 500, 1000);
  p.opened();
  clock.advance(500);
  p.opened();
  p.connected(); // on broker 1
  clock.advance(1000);
  assert.equal(probes.length, 1);
  p.lost('ECONNRESET');
  clock.advance(500);
  assert.deepEqual(moves.at(-1), { at: 2000, from: 1, to: 2, reason: 'connection lost (ECONNRESET); not up within 500 ms' });
  p.opened();
  p.connected();
  clock.advance(1000);
  assert.equal(probes.length, 2, 'on broker 2 it probes the primary afresh');
});

test('a probe that comes up while the backup is down is the way back', () => {
  const { p, clock, moves } = plan(2, 500, 1000);
  p.opened();
  clock.advance(500);
  p.opened();
  p.connected();
  clock.advance(1000);
  p.lost('ECONNRESET');
  clock.advance(100);
  p.probeUp();
  clock.advance(10_000);
  assert.equal(moves.length, 1, 'no failover after the probe brought the link back');
  assert.equal(p.current, 0);
});

test('closed: no timer fires', () => {
  const { p, clock, moves } = plan(2);
  p.opened();
  p.close();
  clock.advance(10_000);
  assert.equal(moves.length, 0);
});

test('a silent broker is left at once (its silence already lasted failoverMs); the next broker gets failoverMs', () => {
  const { p, clock, moves } = plan(3);
  p.opened();
  p.connected();
  clock.advance(700);
  assert.equal(p.silent('broker silent: no PUBACK for 500 ms'), true);
  assert.deepEqual(moves, [{ at: 700, from: 0, to: 1, reason: 'broker silent: no PUBACK for 500 ms' }]);
  assert.equal(p.current, 1);
  // The backup's connection is opened and does not come up: it too gets failoverMs, then broker 2.
  p.opened();
  clock.advance(499);
  assert.equal(moves.length, 1);
  clock.advance(1);
  assert.deepEqual(moves.at(-1), { at: 1200, from: 1, to: 2, reason: 'no connection yet; not up within 500 ms' });
});

test('silent is ignored while not up, with one broker, and once closed', () => {
  const down = plan(2);
  down.p.opened();
  assert.equal(down.p.silent('x'), false, 'not up: the failover timer is already running');
  assert.equal(down.moves.length, 0);
  down.clock.advance(500);
  assert.equal(down.moves.length, 1, 'and it still fires on time');

  const lone = plan(1);
  lone.p.opened();
  lone.p.connected();
  assert.equal(lone.p.silent('x'), false);
  assert.equal(lone.p.current, 0);

  const closed = plan(2);
  closed.p.opened();
  closed.p.connected();
  closed.p.close();
  assert.equal(closed.p.silent('x'), false);
  assert.equal(closed.moves.length, 0);
});

test('a silent backup while a probe is out: on to the next broker, the probe dropped, probing afresh there', () => {
  const { p, clock, moves, probes } = plan(3, 500, 1000);
  p.opened();
  clock.advance(500);
  p.opened();
  p.connected(); // on broker 1 at 500
  clock.advance(1000);
  assert.deepEqual(probes, [1500]);
  assert.equal(p.silent('broker silent: no PUBACK for 500 ms'), true);
  assert.deepEqual(moves.at(-1), { at: 1500, from: 1, to: 2, reason: 'broker silent: no PUBACK for 500 ms' });
  p.opened();
  p.connected();
  clock.advance(999);
  assert.deepEqual(probes, [1500], 'the probe of broker 1 went with it');
  clock.advance(1);
  assert.deepEqual(probes, [1500, 2500], 'on broker 2 it probes the primary afresh');
});
