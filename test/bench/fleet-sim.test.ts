import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../runtime/clock.ts';
import { DeadlineBook } from '../../bench/fleet/deadlines.ts';
import { fleetIndexOf, fleetDeviceId, loadFleetKeys } from '../../bench/fleet/fleet-keys.ts';
import { durationMs, fleetSimOptions, FleetUsageError } from '../../bench/fleet/options.ts';
import { fleetPerHubCore } from '../../bench/fleet/report.ts';
import { FleetSchedule } from '../../bench/fleet/schedule.ts';

test('the schedule sends every device exactly once per interval, spread evenly, in time order', () => {
  const s = new FleetSchedule(1000, 10_000, 7);
  const round = s.sendsIn(0, 10_000);
  assert.equal(round.length, 1000);
  assert.deepEqual(new Set(round.map((x) => x.device)).size, 1000, 'each device once');
  for (let i = 1; i < round.length; i++) assert.ok(round[i]!.atMs >= round[i - 1]!.atMs, 'in time order');
  // Evenly: every tenth of the interval holds about a tenth of the fleet (each slot is 10 ms wide).
  for (let b = 0; b < 10; b++) {
    const n = round.filter((x) => x.atMs >= b * 1000 && x.atMs < (b + 1) * 1000).length;
    assert.ok(n >= 99 && n <= 101, `bucket ${b}: ${n}`);
  }
  // The next round repeats each device's phase one interval later.
  const next = s.sendsIn(10_000, 20_000);
  const phase = new Map(round.map((x) => [x.device, x.atMs]));
  for (const x of next) assert.ok(Math.abs(x.atMs - 10_000 - phase.get(x.device)!) < 1e-6);
});

test('windows of the schedule tile it: no send lost or repeated at the edges', () => {
  const s = new FleetSchedule(333, 3000, 1);
  const whole = s.sendsIn(0, 9000);
  const tiled = [0, 1000, 2500, 2501, 4000, 9000].flatMap((from, i, a) => (i + 1 < a.length ? s.sendsIn(from, a[i + 1]!) : []));
  assert.deepEqual(tiled, whole);
  assert.equal(whole.length, 999);
});

test('the same seed gives the same schedule, another seed another deal', () => {
  const a = new FleetSchedule(100, 1000, 3).sendsIn(0, 1000);
  assert.deepEqual(new FleetSchedule(100, 1000, 3).sendsIn(0, 1000), a);
  assert.notDeepEqual(new FleetSchedule(100, 1000, 4).sendsIn(0, 1000), a);
});

test('deadlines: tickets in time keep a device alive; a missed deadline counts one reset, once', () => {
  const clock = new ManualClock(0);
  const book = new DeadlineBook(2, clock.now(), 3000);
  // Device 0 asks every second and gets 3 s tickets counted from its nonce draw.
  for (let t = 0; t < 10; t++) {
    clock.advance(1000);
    book.ticket(0, clock.now() - 50, 3000, clock.now());
    assert.equal(book.sweep(clock.now()), t === 3 ? 1 : 0, `at ${clock.now()} ms`); // device 1's 3 s passes after 3 s
  }
  // Device 1 never got a ticket: its boot deadline (3 s) passed once, and is not counted again.
  assert.equal(book.resets, 1);
  assert.equal(book.devicesReset, 1);
  assert.equal(book.deadlineOf(1), undefined);
  assert.equal(book.deadlineOf(0), 10_000 - 50 + 3000);
});

test('deadlines: a ticket arriving after the deadline counts the reset; an older ticket never shortens it', () => {
  const clock = new ManualClock(0);
  const book = new DeadlineBook(1, clock.now(), 2000);
  clock.advance(2500);
  book.ticket(0, 1000, 2000, clock.now()); // drawn at 1 s, deadline 3 s, but the old one (2 s) had passed
  assert.equal(book.resets, 1);
  assert.equal(book.deadlineOf(0), 3000);
  book.ticket(0, 2400, 5000, clock.now());
  book.ticket(0, 1500, 2000, clock.now()); // a late ticket for an older request
  assert.equal(book.deadlineOf(0), 7400);
  assert.equal(book.sweep(7400), 0, 'at the deadline itself the AWDT has not yet fired');
  assert.equal(book.sweep(7401), 1);
});

test('the fleet cache: same (N, seed) read back, another seed other keys, a damaged file regenerated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-cache-test-'));
  try {
    const notes: string[] = [];
    const first = loadFleetKeys({ devices: 5, seed: 9, cacheDir: dir, note: (m) => notes.push(m) });
    assert.equal(first.cached, false);
    const again = loadFleetKeys({ devices: 5, seed: 9, cacheDir: dir });
    assert.equal(again.cached, true);
    assert.deepEqual(again.keys.records, first.keys.records);
    const other = loadFleetKeys({ devices: 5, seed: 10, cacheDir: dir });
    assert.notDeepEqual(other.keys.publicKey(0), first.keys.publicKey(0));
    const bytes = readFileSync(first.file);
    bytes[bytes.length - 1]! ^= 0xff; // the last device's public key
    writeFileSync(first.file, bytes);
    const repaired = loadFleetKeys({ devices: 5, seed: 9, cacheDir: dir, note: (m) => notes.push(m) });
    assert.equal(repaired.cached, false);
    assert.deepEqual(repaired.keys.records, first.keys.records);
    assert.match(notes.join('\n'), /not valid/);
    assert.equal(loadFleetKeys({ devices: 5, seed: 9, cacheDir: dir }).cached, true, 'rewritten');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('device ids map back to their index, and nothing else does', () => {
  assert.equal(fleetIndexOf(fleetDeviceId(123)), 123);
  for (const bad of ['sim-', 'sim-01', 'sim-1x', 'bench-1', 'sim--1']) assert.equal(fleetIndexOf(bad), -1, bad);
});

test('options: durations need a unit, the deferral must exceed the interval; the sizing rule', () => {
  assert.equal(durationMs('interval', '30s'), 30_000);
  assert.equal(durationMs('interval', '500ms'), 500);
  assert.throws(() => durationMs('interval', '30'), FleetUsageError);
  const o = fleetSimOptions({ devices: '100000', interval: '30s' });
  assert.equal(o.deferralMs, 90_000);
  assert.equal(o.warmupMs, 30_000);
  assert.throws(() => fleetSimOptions({ interval: '10s', deferral: '10s' }), /longer than --interval/);
  assert.throws(() => fleetSimOptions({ devices: '0' }), FleetUsageError);
  // 4,000 answers per hub CPU-second, one ticket per device per 20 s: 80,000 devices per core.
  assert.equal(fleetPerHubCore(4000), 80_000);
});

test('options: workers and shards, with enough connections for every shard; --db postgres picks the server', () => {
  const one = fleetSimOptions({});
  assert.equal(one.workers, 1);
  assert.equal(one.shards, 1);
  const o = fleetSimOptions({ workers: '2', shards: '6' });
  assert.equal(o.workers, 2);
  assert.equal(o.shards, 6);
  assert.equal(o.connections, 6, 'a connection per shard at least, by default');
  assert.throws(() => fleetSimOptions({ shards: '2', connections: '1' }), /at least --shards/);
  assert.throws(() => fleetSimOptions({ shards: '2', broker: 'mqtt://127.0.0.1:1883' }), /without --broker/);
  assert.throws(() => fleetSimOptions({ workers: '0' }), FleetUsageError);
  const pg = fleetSimOptions({ db: 'postgres://postgres@127.0.0.1:5432/x' });
  assert.equal(pg.pgServer, 'postgres://postgres@127.0.0.1:5432/x');
  assert.equal(pg.db, undefined);
  assert.equal(fleetSimOptions({ db: '/tmp/ih.db' }).db, '/tmp/ih.db');
});
