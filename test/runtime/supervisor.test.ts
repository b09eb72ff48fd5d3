import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestKit, Escalation, StartFailure, type ActorRef, type Supervisor } from '../../runtime/index.ts';

type M = { type: 'boom' } | { type: 'get'; to: ActorRef<string> } | { type: 'set'; v: string };

function cellSpec(name: string, starts: Map<string, number>) {
  return {
    name,
    capacity: 8,
    start: () => {
      starts.set(name, (starts.get(name) ?? 0) + 1);
      let v = 'fresh';
      return {
        receive(m: M) {
          if (m.type === 'boom') throw new Error(`${name} boom`);
          if (m.type === 'set') v = m.v;
          else if (m.type === 'get') m.to.tell(`${name}:${v}`);
        },
      };
    },
  };
}

test('one-for-one restarts only the failed child', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d', { strategy: 'one-for-one' });
  const starts = new Map<string, number>();
  const a = d.spawn(cellSpec('a', starts));
  const b = d.spawn(cellSpec('b', starts));
  d.start();
  a.tell({ type: 'set', v: 'x' });
  b.tell({ type: 'set', v: 'y' });
  a.tell({ type: 'boom' });
  a.tell({ type: 'set', v: 'queued behind the fault' });
  kit.run();
  const probe = kit.probe<string>('p');
  a.tell({ type: 'get', to: probe });
  b.tell({ type: 'get', to: probe });
  kit.run();
  assert.deepEqual(probe.received, ['a:fresh', 'b:y'], 'a restarted fresh (its queue discarded), b untouched');
  assert.deepEqual(Object.fromEntries(starts), { a: 2, b: 1 });
});

test('one-for-all restarts every sibling', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d', { strategy: 'one-for-all' });
  const starts = new Map<string, number>();
  const a = d.spawn(cellSpec('a', starts));
  const b = d.spawn(cellSpec('b', starts));
  d.start();
  b.tell({ type: 'set', v: 'y' });
  kit.run();
  a.tell({ type: 'boom' });
  kit.run();
  const probe = kit.probe<string>('p');
  b.tell({ type: 'get', to: probe });
  kit.run();
  assert.deepEqual(probe.received, ['b:fresh']);
  assert.deepEqual(Object.fromEntries(starts), { a: 2, b: 2 });
});

test('restart intensity: more than N restarts within P ms escalates to the parent', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d', { maxRestarts: 10, withinMs: 1000 });
  const inner = d.supervisor('inner', { maxRestarts: 2, withinMs: 100 });
  const starts = new Map<string, number>();
  const a = inner.spawn(cellSpec('a', starts));
  d.start();
  a.tell({ type: 'boom' });
  kit.advance(10);
  a.tell({ type: 'boom' });
  kit.advance(10);
  assert.equal(kit.events.filter((e) => e.type === 'escalated').length, 0, 'two restarts within 100 ms are allowed');
  a.tell({ type: 'boom' }); // third within 100 ms: inner gives up
  kit.run();
  const esc = kit.events.find((e) => e.type === 'escalated');
  assert.ok(esc && esc.type === 'escalated' && esc.path === 'd/inner' && esc.error instanceof Escalation);
  // The parent restarted the whole inner subtree with a fresh restart history.
  assert.ok(kit.events.some((e) => e.type === 'supervisor-restarted' && e.path === 'd/inner'));
  assert.equal(inner.isRunning, true);
  assert.equal(starts.get('a'), 4);
});

test('restarts spread wider than the window never escalate', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d', { maxRestarts: 2, withinMs: 100 });
  const starts = new Map<string, number>();
  const a = d.spawn(cellSpec('a', starts));
  d.start();
  for (let i = 0; i < 6; i++) {
    a.tell({ type: 'boom' });
    kit.advance(60);
  }
  assert.equal(kit.events.filter((e) => e.type === 'escalated').length, 0);
  assert.equal(starts.get('a'), 7);
});

test('a domain that exceeds its intensity stops and reaches the escalation handler', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d', { maxRestarts: 1, withinMs: 1000 });
  const got: Array<{ domain: Supervisor; error: Escalation }> = [];
  kit.system.onEscalation((domain, error) => got.push({ domain, error }));
  const a = d.spawn(cellSpec('a', new Map()));
  d.start();
  a.tell({ type: 'boom' });
  kit.run();
  a.tell({ type: 'boom' });
  kit.run();
  assert.equal(got.length, 1);
  assert.equal(got[0]!.domain, d);
  assert.equal(d.isRunning, false);
  assert.equal(kit.system.stats().find((s) => s.path === 'd/a')!.state, 'stopped');
});

test('an actor that fails while starting is stopped, not restarted in a loop', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d', { maxRestarts: 3, withinMs: 1000 });
  let attempts = 0;
  const ref = d.spawn<string>({
    name: 'bad',
    capacity: 2,
    start: () => {
      attempts++;
      throw new Error('cannot open device');
    },
  });
  d.start();
  kit.advance(5000);
  assert.equal(attempts, 1);
  const ev = kit.events.find((e) => e.type === 'start-failed');
  assert.ok(ev && ev.type === 'start-failed' && ev.error instanceof StartFailure);
  assert.match((ev.error as StartFailure).message, /cannot open device/);
  assert.equal(ref.offer('x'), false);
  assert.equal(kit.system.stats().find((s) => s.path === 'd/bad')!.state, 'failed-start');
  assert.equal(d.isRunning, true, 'siblings keep running');
});

test('a domain can be stopped and started again as a whole: mailboxes discarded, state fresh', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  const starts = new Map<string, number>();
  const a = d.spawn(cellSpec('a', starts));
  d.start();
  a.tell({ type: 'set', v: 'dirty' });
  kit.run();
  a.tell({ type: 'set', v: 'queued-then-discarded' });
  d.stop();
  kit.run();
  const probe = kit.probe<string>('p');
  a.tell({ type: 'get', to: probe });
  kit.run();
  assert.deepEqual(probe.received, [], 'a stopped domain takes dead letters');
  d.start();
  a.tell({ type: 'get', to: probe });
  kit.run();
  assert.deepEqual(probe.received, ['a:fresh']);
  assert.equal(starts.get('a'), 2);
});

test('child names must be unique and well-formed (numbered assertion)', () => {
  const kit = createTestKit();
  const d = kit.system.domain('d');
  d.spawn(cellSpec('a', new Map()));
  assert.throws(() => d.spawn(cellSpec('a', new Map())), /assertion #204/);
  assert.throws(() => d.spawn(cellSpec('bad name', new Map())), /assertion #203/);
});

test('clear() forgets every child so a subtree can be rebuilt from scratch', () => {
  const kit = createTestKit();
  const d = kit.system.domain('vm');
  const image = d.supervisor('image');
  const starts = new Map<string, number>();
  const a = image.spawn(cellSpec('a', starts));
  d.start();
  image.spawn(cellSpec('intruder', starts));
  assert.deepEqual(
    kit.system
      .stats()
      .filter((s) => s.path.startsWith('vm/'))
      .map((s) => s.path),
    ['vm/image/a', 'vm/image/intruder'],
  );
  image.clear();
  assert.equal(a.offer({ type: 'set', v: 'x' }), false, 'old refs are dead');
  image.spawn(cellSpec('a', starts));
  image.start();
  assert.deepEqual(
    kit.system
      .stats()
      .filter((s) => s.path.startsWith('vm/'))
      .map((s) => s.path),
    ['vm/image/a'],
  );
  assert.match(kit.system.stats()[0]!.code, /fresh/, 'stats carry the code an inspector hashes');
});
