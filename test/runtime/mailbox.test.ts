import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox } from '../../runtime/index.ts';

test('mailbox is FIFO across wrap-around and tracks its high-water mark', () => {
  const mb = new Mailbox<number>(3);
  const out: number[] = [];
  for (let round = 0; round < 5; round++) {
    assert.equal(mb.push(round * 2), true);
    assert.equal(mb.push(round * 2 + 1), true);
    out.push(mb.shift(), mb.shift());
  }
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(mb.highWater, 2);
  assert.equal(mb.size, 0);
});

test('a full mailbox refuses and counts the drop', () => {
  const mb = new Mailbox<string>(2);
  assert.equal(mb.push('a'), true);
  assert.equal(mb.push('b'), true);
  assert.equal(mb.push('c'), false);
  assert.equal(mb.push('d'), false);
  assert.equal(mb.drops, 2);
  assert.equal(mb.highWater, 2);
  assert.equal(mb.shift(), 'a');
  assert.equal(mb.push('e'), true);
  assert.deepEqual([mb.shift(), mb.shift()], ['b', 'e']);
});

test('clear discards queued messages but keeps the counters', () => {
  const mb = new Mailbox<number>(4);
  mb.push(1);
  mb.push(2);
  mb.push(3);
  assert.equal(mb.clear(), 3);
  assert.equal(mb.size, 0);
  assert.equal(mb.highWater, 3);
  mb.push(9);
  assert.equal(mb.shift(), 9);
});

test('capacity must be a positive integer', () => {
  assert.throws(() => new Mailbox(0), RangeError);
  assert.throws(() => new Mailbox(1.5), RangeError);
});
