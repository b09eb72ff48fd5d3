import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActorSystem, createTestKit } from '../../runtime/index.ts';

test('higher-priority domains are served first', () => {
  const kit = createTestKit();
  const log: string[] = [];
  const domains = [
    ['sm', 3],
    ['sw', 0],
    ['mm', 2],
    ['hypervisor', 1],
  ] as const;
  const refs = domains.map(([name, priority]) => {
    const d = kit.system.domain(name, { priority });
    d.start();
    return d.spawn<number>({ name: 'a', capacity: 4, start: () => ({ receive: (n) => void log.push(`${name}${n}`) }) });
  });
  for (const r of refs) r.tell(1);
  for (const r of refs) r.tell(2);
  kit.run();
  assert.deepEqual(log, ['sw1', 'sw2', 'hypervisor1', 'hypervisor2', 'mm1', 'mm2', 'sm1', 'sm2']);
});

test('actors of one priority take turns in bounded batches', () => {
  const system = new ActorSystem({ drain: 'manual', batch: 2, budget: 100 });
  const d = system.domain('d');
  d.start();
  const log: string[] = [];
  const a = d.spawn<number>({ name: 'a', capacity: 8, start: () => ({ receive: (n) => void log.push(`a${n}`) }) });
  const b = d.spawn<number>({ name: 'b', capacity: 8, start: () => ({ receive: (n) => void log.push(`b${n}`) }) });
  for (let i = 0; i < 4; i++) a.tell(i);
  for (let i = 0; i < 4; i++) b.tell(i);
  system.runUntilIdle();
  assert.deepEqual(log, ['a0', 'a1', 'b0', 'b1', 'a2', 'a3', 'b2', 'b3']);
});

test('in auto mode the scheduler yields to the event loop between budgets', async () => {
  const system = new ActorSystem({ batch: 16, budget: 64 });
  const d = system.domain('d');
  d.start();
  let handled = 0;
  let handledWhenIoRan = -1;
  const ref = d.spawn<number>({
    name: 'spinner',
    capacity: 4,
    start: (ctx) => ({
      receive: (n) => {
        handled++;
        if (n > 0) ctx.self.tell(n - 1);
      },
    }),
  });
  await new Promise<void>((resolve) => {
    ref.tell(1000);
    setImmediate(() => {
      handledWhenIoRan = handled;
    });
    const poll = (): void => (handled > 1000 ? resolve() : void setImmediate(poll));
    poll();
  });
  assert.equal(handled, 1001);
  assert.ok(handledWhenIoRan >= 0 && handledWhenIoRan <= 128, `I/O callback ran after ${handledWhenIoRan} messages`);
});

test('runUntilIdle stops a message loop with a numbered assertion instead of hanging', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.start();
  const ref = d.spawn<number>({ name: 'loop', capacity: 2, start: (ctx) => ({ receive: (n) => ctx.self.tell(n + 1) }) });
  ref.tell(0);
  assert.throws(() => kit.system.runUntilIdle(10_000), /assertion #103/);
});

test('in auto mode a turn also yields after its time slice, so slow handlers cannot hold I/O back for a whole budget', async () => {
  const system = new ActorSystem({ batch: 4, budget: 4096, sliceMs: 5 });
  const d = system.domain('d');
  d.start();
  let handled = 0;
  const turns: number[] = [];
  const ref = d.spawn<number>({
    name: 'busy',
    capacity: 4,
    start: (ctx) => ({
      receive: (n) => {
        const until = performance.now() + 1; // a 1 ms handler: a whole budget would hold the loop ~4 s
        while (performance.now() < until);
        handled++;
        if (n > 0) ctx.self.tell(n - 1);
      },
    }),
  });
  await new Promise<void>((resolve) => {
    ref.tell(40);
    let last = 0;
    const poll = (): void => {
      turns.push(handled - last);
      last = handled;
      if (handled > 40) resolve();
      else setImmediate(poll);
    };
    setImmediate(poll);
  });
  assert.equal(handled, 41);
  // Each turn stops at the first batch boundary past 5 ms: about 8 handlers, never the whole run.
  assert.ok(Math.max(...turns) <= 12, `longest turn handled ${Math.max(...turns)} messages: ${turns.join(',')}`);
});
