/**
 * The hub's two-generation caches (actors/hub/sqlite/config-cache.ts `Bounded`): a cache sized to
 * exactly the keys it serves keeps them all in its young generation — an operator who sets
 * `--key-cache` to the fleet's instances, as the help says, pays no swap per round through the fleet —
 * and past that size the oldest generation goes, so memory stays bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bounded } from '../../actors/hub/sqlite/config-cache.ts';

/** The young generation's size, read off the instance (the class keeps no counter of its own). */
function youngSize(cache: Bounded<number>): number {
  return (cache as unknown as { young: Map<string, number> }).young.size;
}

test('a cache of n keeps exactly n keys in its young generation round after round', () => {
  const cache = new Bounded<number>(3);
  for (const k of ['a', 'b', 'c']) cache.set(k, 1);
  for (let round = 0; round < 5; round++) for (const k of ['a', 'b', 'c']) assert.equal(cache.get(k), 1);
  assert.equal(youngSize(cache), 3, 'no swap: every round hit the young generation');
});

test('past n the generations swap, and the oldest keys go after two swaps', () => {
  const cache = new Bounded<number>(3);
  for (const k of ['a', 'b', 'c', 'd']) cache.set(k, 1); // the fourth swaps: old = a..d
  assert.equal(youngSize(cache), 0);
  assert.equal(cache.get('a'), 1, 'the old generation still answers (and moves the key back)');
  for (const k of ['e', 'f', 'g', 'h']) cache.set(k, 1); // young a,e,f,g swaps at g: old = a,e,f,g
  assert.equal(cache.get('b'), undefined, 'b was in the generation dropped');
  assert.equal(cache.get('h'), 1);
});
