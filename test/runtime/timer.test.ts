import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActorSystem, ManualClock, createTestKit, type Timer } from '../../runtime/index.ts';

type M = { type: 'fire'; tag: string } | { type: 'boom' } | { type: 'disarm' } | { type: 'rearm'; ms: number };

test('timers of several actors fire in deadline order at the right simulated time', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  const log: string[] = [];
  for (const [name, ms] of [
    ['a', 30],
    ['b', 10],
    ['c', 20],
  ] as const) {
    d.spawn<M>({
      name,
      capacity: 2,
      start: (ctx) => {
        ctx.timer({ type: 'fire', tag: name }).arm(ms);
        return { receive: (m) => m.type === 'fire' && log.push(`${m.tag}@${ctx.now()}`) };
      },
    });
  }
  kit.advance(25);
  assert.deepEqual(log, ['b@10', 'c@20']);
  kit.advance(100);
  assert.deepEqual(log, ['b@10', 'c@20', 'a@30']);
});

test('periodic timers fire every period without drift; disarm and rearm take effect', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  const log: number[] = [];
  const ref = d.spawn<M>({
    name: 'p',
    capacity: 4,
    start: (ctx) => {
      const t = ctx.timer({ type: 'fire', tag: 'p' });
      t.arm(5, 10);
      return {
        receive(m) {
          if (m.type === 'fire') log.push(ctx.now());
          else if (m.type === 'disarm') assert.equal(t.disarm(), true);
          else if (m.type === 'rearm') t.arm(m.ms);
        },
      };
    },
  });
  kit.advance(36);
  assert.deepEqual(log, [5, 15, 25, 35]);
  ref.tell({ type: 'disarm' });
  kit.advance(100);
  assert.deepEqual(log, [5, 15, 25, 35]);
  ref.tell({ type: 'rearm', ms: 7 });
  kit.advance(100);
  assert.deepEqual(log, [5, 15, 25, 35, 143], 'one-shot 7 ms after the rearm at t=136');
});

test('rearming pushes the deadline back (watchdog pattern)', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  let expiredAt = -1;
  let timer: Timer | undefined;
  const ref = d.spawn<M>({
    name: 'wd',
    capacity: 4,
    start: (ctx) => {
      timer = ctx.timer({ type: 'fire', tag: 'expire' });
      timer.arm(100);
      return { receive: (m) => (m.type === 'fire' ? (expiredAt = ctx.now()) : m.type === 'rearm' && timer!.arm(m.ms)) };
    },
  });
  kit.advance(90);
  ref.tell({ type: 'rearm', ms: 100 });
  kit.run();
  assert.equal(timer!.deadline, 190);
  kit.advance(99);
  assert.equal(expiredAt, -1);
  kit.advance(1);
  assert.equal(expiredAt, 190);
});

test('timers are cancelled when their actor restarts or stops', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d', { maxRestarts: 5 });
  d.start();
  const log: string[] = [];
  let incarnation = 0;
  const ref = d.spawn<M>({
    name: 't',
    capacity: 4,
    start: (ctx) => {
      const me = ++incarnation;
      ctx.timer({ type: 'fire', tag: `inc${me}` }).arm(50);
      return {
        receive(m) {
          if (m.type === 'boom') throw new Error('boom');
          if (m.type === 'fire') log.push(m.tag);
        },
      };
    },
  });
  kit.advance(10);
  ref.tell({ type: 'boom' }); // restart at t=10: incarnation 1's timer (due 50) must not fire
  kit.run();
  kit.advance(45);
  assert.deepEqual(log, []);
  kit.advance(5); // incarnation 2's timer, armed at t=10, is due at 60
  assert.deepEqual(log, ['inc2']);
  d.stop();
  assert.equal(kit.clock.pending(), 0, 'no live clock callbacks after the domain stopped');
});

test('a disarmed timer whose fire is queued but not yet delivered is withdrawn', () => {
  // Without the test kit's drain-after-fire, a fire stays queued on the system lane until we drain.
  const clock = new ManualClock();
  const system = new ActorSystem({ clock, drain: 'manual' });
  const d = system.domain('d');
  d.start();
  const log: string[] = [];
  let t1: Timer | undefined;
  let t2: Timer | undefined;
  d.spawn<M>({
    name: 'x',
    capacity: 2,
    start: (ctx) => {
      t1 = ctx.timer({ type: 'fire', tag: 't1' });
      t2 = ctx.timer({ type: 'fire', tag: 't2' });
      t1.arm(10);
      t2.arm(10);
      return { receive: (m) => void (m.type === 'fire' && log.push(m.tag)) };
    },
  });
  clock.advance(10);
  assert.equal(t1!.disarm(), true, 'a queued fire counts as armed');
  system.runUntilIdle();
  assert.deepEqual(log, ['t2']);
});
