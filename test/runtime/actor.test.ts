import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestKit, MailboxOverflow, type ActorRef } from '../../runtime/index.ts';

type CounterMsg = { type: 'add'; n: number } | { type: 'report'; to: ActorRef<number> } | { type: 'boom' };

function counterSpec(capacity = 4) {
  return {
    name: 'counter',
    capacity,
    start: () => {
      let total = 0;
      return {
        receive(msg: CounterMsg) {
          switch (msg.type) {
            case 'add':
              total += msg.n;
              break;
            case 'report':
              msg.to.tell(total);
              break;
            case 'boom':
              throw new Error('boom');
          }
        },
      };
    },
  };
}

test('messages are handled in order, run to completion, and state lives in the behaviour', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  const counter = d.spawn(counterSpec());
  const probe = kit.probe<number>('p');
  counter.tell({ type: 'add', n: 2 });
  counter.tell({ type: 'add', n: 3 });
  counter.tell({ type: 'report', to: probe });
  kit.run();
  assert.deepEqual(probe.received, [5]);
});

test('offer on a full mailbox returns false and counts the drop; the actor keeps running', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  const counter = d.spawn(counterSpec(2));
  const probe = kit.probe<number>('p');
  assert.equal(counter.offer({ type: 'add', n: 1 }), true);
  assert.equal(counter.offer({ type: 'add', n: 1 }), true);
  assert.equal(counter.offer({ type: 'add', n: 100 }), false);
  kit.run();
  counter.tell({ type: 'report', to: probe });
  kit.run();
  assert.deepEqual(probe.received, [2]);
  const stats = kit.system.stats().find((s) => s.path === 'd/counter')!;
  assert.equal(stats.drops, 1);
  assert.equal(stats.overflows, 0);
  assert.equal(stats.highWater, 2);
  assert.equal(stats.restarts, 0);
});

test('tell on a full mailbox is a fault: the supervisor restarts the receiver with fresh state', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  const counter = d.spawn(counterSpec(2));
  const probe = kit.probe<number>('p');
  counter.tell({ type: 'add', n: 1 });
  counter.tell({ type: 'add', n: 1 });
  counter.tell({ type: 'add', n: 1 }); // overflow
  kit.run();
  const failed = kit.events.find((e) => e.type === 'actor-failed');
  assert.ok(failed && failed.type === 'actor-failed' && failed.error instanceof MailboxOverflow);
  counter.tell({ type: 'report', to: probe });
  kit.run();
  assert.deepEqual(probe.received, [0], 'restarted with fresh state, queued messages discarded');
  const stats = kit.system.stats().find((s) => s.path === 'd/counter')!;
  assert.equal(stats.overflows, 1);
  assert.equal(stats.restarts, 1);
});

test('the system lane is served even when the mailbox is full, and before it', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  const seen: string[] = [];
  const ref = d.spawn<{ type: 'tick' } | { type: 'work'; i: number }>({
    name: 'busy',
    capacity: 3,
    start: (ctx) => {
      ctx.timer({ type: 'tick' }).arm(10);
      return { receive: (m) => void seen.push(m.type === 'tick' ? 'tick' : `work${m.i}`) };
    },
  });
  kit.clock.schedule(10, () => {
    // Fill the mailbox at the same instant the timer is due: the timer must not be dropped.
    for (let i = 0; i < 3; i++) assert.equal(ref.offer({ type: 'work', i }), true);
    assert.equal(ref.offer({ type: 'work', i: 99 }), false);
  });
  kit.advance(10);
  assert.deepEqual(seen, ['tick', 'work0', 'work1', 'work2']);
});

test('effects run outside the handler and their outcome comes back as a message', async () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  type M = { type: 'go'; x: number } | { type: 'done'; y: number } | { type: 'failed'; why: string };
  const probe = kit.probe<string>('p');
  const ref = d.spawn<M>({
    name: 'io',
    capacity: 4,
    maxEffects: 1,
    start: (ctx) => ({
      receive(m) {
        if (m.type === 'go') {
          const started = ctx.effect(
            async () => {
              if (m.x < 0) throw new Error('negative');
              return m.x * 2;
            },
            (y) => ({ type: 'done', y }),
            (e) => ({ type: 'failed', why: (e as Error).message }),
          );
          if (!started) probe.tell('busy');
        } else if (m.type === 'done') probe.tell(`done ${m.y}`);
        else probe.tell(`failed ${m.why}`);
      },
    }),
  });
  ref.tell({ type: 'go', x: 21 });
  ref.tell({ type: 'go', x: 1 }); // refused: maxEffects 1 in flight
  kit.run();
  await kit.settle();
  ref.tell({ type: 'go', x: -1 });
  kit.run();
  await kit.settle();
  assert.deepEqual(probe.received, ['busy', 'done 42', 'failed negative']);
});

test('an effect outcome that arrives after a restart is discarded', async () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  let release: (v: number) => void = () => {};
  const got: string[] = [];
  const ref = d.spawn<{ type: 'go' } | { type: 'done' } | { type: 'boom' }>({
    name: 'io',
    capacity: 4,
    start: (ctx) => ({
      receive(m) {
        if (m.type === 'go')
          ctx.effect(
            () => new Promise<number>((r) => (release = r)),
            () => ({ type: 'done' }),
            () => ({ type: 'done' }),
          );
        else if (m.type === 'done') got.push('done');
        else throw new Error('boom');
      },
    }),
  });
  ref.tell({ type: 'go' });
  kit.run();
  ref.tell({ type: 'boom' });
  kit.run();
  release(1);
  await kit.settle();
  assert.deepEqual(got, []);
  assert.equal(kit.system.stats().find((s) => s.path === 'd/io')!.staleEffects, 1);
});

test('a stopped actor takes dead letters: tell is counted, offer returns false', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  let stoppedHook = 0;
  const ref = d.spawn<'stop' | 'ping'>({
    name: 'a',
    capacity: 2,
    start: (ctx) => ({ receive: (m) => m === 'stop' && ctx.stop(), stopped: () => void stoppedHook++ }),
  });
  ref.tell('stop');
  kit.run();
  ref.tell('ping');
  assert.equal(ref.offer('ping'), false);
  const s = kit.system.stats().find((x) => x.path === 'd/a')!;
  assert.equal(s.state, 'stopped');
  assert.equal(s.deadLetters, 2);
  assert.equal(stoppedHook, 1);
});
