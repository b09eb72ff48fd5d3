/**
 * Sealed service data (docs/PROTOCOL.md "Sealed service data"): the hypervisor's sealer numbers and
 * seals what a service publishes, and a consumer holding the enrolled K_SM key accepts genuine
 * records once each and tells forged, tampered, replayed and reordered ones apart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, writeFrame, FRAME_HEADER_BYTES } from '../../runtime/index.ts';
import { create, lite, serviceChannel, ServiceMessageSchema, serviceInstance, toBinary, topics } from '../../proto/index.ts';
import { generateSecretKey, nodeBackend } from '../../actors/crypto/index.ts';
import { encodeRecord, serviceSealer, type FrameOutcome } from '../../actors/hypervisor/index.ts';
import { ServiceDataVerifier, type ServiceDataOutcome } from '../../actors/service-data/index.ts';
import type { Reading } from '../../actors/sm/index.ts';
import { DEVICE_ID, simFleet } from '../support/fleet.ts';

const node = nodeBackend();
const utf8 = new TextEncoder();
const SERVICE = 'sensor';
const STREAM = 'readings';
const TOPIC = topics.serviceOut(SERVICE, DEVICE_ID, STREAM);

interface Published {
  readonly stream: string;
  readonly message: Uint8Array;
}

/** A sealer as the hypervisor runs it, with what it hands mm captured. */
function sealerFor(o: { key: Uint8Array; boot?: number; deviceId?: string; service?: string; clock?: ManualClock; maxRecords?: number }) {
  const clock = o.clock ?? new ManualClock(0);
  const service = o.service ?? SERVICE;
  const contract = serviceChannel(service);
  const out: Published[] = [];
  let answer: FrameOutcome = 'ok';
  const sealer = serviceSealer({
    contract,
    deviceId: o.deviceId ?? DEVICE_ID,
    service,
    boot: o.boot ?? 1,
    key: o.key,
    clock,
    maxRecords: o.maxRecords,
    toMm: (frame) => {
      if (answer !== 'ok') return answer;
      const f = lite.serviceFrame.decode(frame.subarray(FRAME_HEADER_BYTES));
      out.push({ stream: f.stream, message: f.payload });
      return 'ok';
    },
  });
  const send = (payload: Uint8Array, stream = STREAM): FrameOutcome => {
    const body = lite.serviceFrame.encode({ stream, payload });
    return sealer.fromService(writeFrame(new Uint8Array(FRAME_HEADER_BYTES + body.length), 0, body));
  };
  return { sealer, send, out, clock, answer: (a: FrameOutcome) => void (answer = a) };
}

function verifierFor(keys: Record<string, Uint8Array>, clock = new ManualClock(0)) {
  return new ServiceDataVerifier({
    keyOf: (deviceId, service) => {
      const seed = keys[`${deviceId}/${service}`];
      return seed === undefined ? undefined : node.publicKeyOf(seed);
    },
    now: () => clock.now(),
    sealWaitMs: 1000,
  });
}

const kinds = (outcomes: readonly ServiceDataOutcome[]): string[] =>
  outcomes.map((o) => (o.kind === 'forged' ? `forged:${o.reason}` : o.kind));

function feed(v: ServiceDataVerifier, messages: readonly Published[], topic = TOPIC): ServiceDataOutcome[] {
  return messages.flatMap((m) => v.receive(topic, m.message));
}

test('a record is encoded byte for byte as the generated code encodes a ServiceMessage', () => {
  for (const [boot, seq, size] of [
    [0n, 1, 0],
    [1n, 1, 5],
    [300n, 2 ** 40, 200],
    [2n ** 63n, 127, 70_000],
  ] as const) {
    const payload = new Uint8Array(size).map((_, i) => i & 0xff);
    const generated = toBinary(
      ServiceMessageSchema,
      create(ServiceMessageSchema, { kind: { case: 'record', value: { boot, seq: BigInt(seq), payload } } }),
    );
    assert.deepEqual(encodeRecord(boot, seq, payload), generated);
  }
});

test('genuine records verify once each, in order, with their payload; a quiet stream is sealed at once', () => {
  const key = generateSecretKey();
  const s = sealerFor({ key, maxRecords: 4 });
  const v = verifierFor({ [`${DEVICE_ID}/${SERVICE}`]: key });
  assert.equal(s.send(utf8.encode('r1')), 'ok');
  assert.equal(s.out.length, 2, 'a record and, the stream having been quiet, its seal at once');
  // Busy now: the next records wait for the timer or a full batch.
  for (let i = 2; i <= 5; i++) s.send(utf8.encode(`r${i}`));
  assert.equal(s.sealer.counters.seals, 1, 'a full batch is hashed and sealed on a later turn, not on the send');
  s.clock.advance(0);
  assert.equal(s.sealer.counters.seals, 2, 'a full batch of 4 is sealed without waiting for sealEveryMs');
  s.send(utf8.encode('r6'));
  s.clock.advance(20);
  assert.equal(s.sealer.counters.seals, 3, 'the rest within sealEveryMs');
  const outcomes = feed(v, s.out);
  assert.deepEqual(kinds(outcomes), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  assert.deepEqual(
    outcomes.map((o) => (o.kind === 'ok' ? `${o.seq}:${new TextDecoder().decode(o.payload)}` : '')),
    ['1:r1', '2:r2', '3:r3', '4:r4', '5:r5', '6:r6'],
  );
  assert.equal(v.waiting, 0);
  assert.equal(v.counters.ok, 6);
  // Each seal lists the previous seal's records again: the same messages once more are all replays.
  assert.deepEqual(kinds(feed(v, s.out)), Array(6).fill('replayed'));
  assert.equal(v.counters.replayed, 6);
});

test('forgeries on the right topic are caught: no seal, a seal by another device or service, a tampered payload', () => {
  const key = generateSecretKey();
  const clock = new ManualClock(0);
  const v = verifierFor({ [`${DEVICE_ID}/${SERVICE}`]: key, [`${DEVICE_ID}/other`]: generateSecretKey() }, clock);

  // 1. A record nobody sealed: it waits for a seal, then is reported unsealed.
  const bare = encodeRecord(1n, 1, utf8.encode('{"celsius":99}'));
  assert.deepEqual(v.receive(TOPIC, bare), []);
  clock.advance(1000);
  assert.deepEqual(kinds(v.expire()), ['forged:unsealed']);

  // 2. Records sealed with another device's K_SM (same names): the seal is refused, the records never verify.
  const other = sealerFor({ key: generateSecretKey() });
  other.send(utf8.encode('{"celsius":-40}'));
  assert.deepEqual(kinds(feed(v, other.out)), ['forged:bad-seal']);
  // 3. … or with the same device's key for another service.
  const otherService = sealerFor({ key: generateSecretKey(), service: 'other' });
  otherService.send(utf8.encode('x'), STREAM);
  assert.deepEqual(kinds(feed(v, otherService.out)), ['forged:bad-seal']);
  clock.advance(1000);
  assert.deepEqual(kinds(v.expire()), ['forged:unsealed', 'forged:unsealed']);

  // 4. A genuine record whose payload was changed on the way: the genuine seal does not list it.
  const s = sealerFor({ key, boot: 1 });
  s.send(utf8.encode('{"celsius":21.5}'));
  const [record, sealMsg] = s.out as [Published, Published];
  const tampered = record.message.slice();
  tampered[tampered.length - 2] ^= 0x01;
  assert.deepEqual(v.receive(TOPIC, tampered), []);
  assert.deepEqual(kinds(v.receive(TOPIC, sealMsg.message)), ['forged:digest-mismatch']);
  // The genuine record still verifies after the forgery.
  assert.deepEqual(kinds(v.receive(TOPIC, record.message)), ['ok']);

  // 5. A genuine seal moved to another stream's topic names its own stream.
  assert.deepEqual(kinds(v.receive(topics.serviceOut(SERVICE, DEVICE_ID, 'other'), sealMsg.message)), ['forged:wrong-source']);
  // 6. Another device's topic, garbage, nothing enrolled.
  assert.deepEqual(kinds(v.receive(topics.serviceOut(SERVICE, 'pi-9999', STREAM), record.message)), ['unknown-device']);
  assert.deepEqual(kinds(v.receive(TOPIC, utf8.encode('{"celsius":99}'))), ['malformed']);
  assert.deepEqual(kinds(v.receive('dominion/v1/device/x/reply/mm', record.message)), ['malformed']);
  assert.deepEqual(
    { forged: v.counters.forged, unknown: v.counters['unknown-device'], malformed: v.counters.malformed },
    { forged: 7, unknown: 1, malformed: 2 },
  );
});

test('replays and reorders are told apart: a late record is out of order, an old boot is replayed', () => {
  const key = generateSecretKey();
  const v = verifierFor({ [`${DEVICE_ID}/${SERVICE}`]: key });
  const s = sealerFor({ key, boot: 7, maxRecords: 2 });
  s.send(utf8.encode('a')); // record 1, sealed at once
  s.send(utf8.encode('b')); // record 2
  s.send(utf8.encode('c')); // record 3: a batch of 2, sealed on the next turn (lists 1..3)
  s.clock.advance(0);
  const [r1, seal1, r2, r3, seal23] = s.out as [Published, Published, Published, Published, Published];
  // mm holds back record 2 and sends 3 first: 3 is accepted, 2 comes late.
  assert.deepEqual(kinds(feed(v, [r1, seal1, r3, seal23])), ['ok', 'ok']);
  assert.deepEqual(kinds(v.receive(TOPIC, r2.message)), ['out-of-order']);
  assert.deepEqual(kinds(v.receive(TOPIC, r2.message)), ['replayed']);
  assert.deepEqual(kinds(v.receive(TOPIC, r1.message)), ['replayed']);

  // The device boots again (boot 8): numbers start over, and boot 7's records are old.
  const next = sealerFor({ key, boot: 8 });
  next.send(utf8.encode('d'));
  assert.deepEqual(kinds(feed(v, next.out)).concat(kinds(v.receive(TOPIC, r3.message)), kinds(v.receive(TOPIC, seal23.message))), [
    'ok',
    'replayed',
    'replayed',
  ]);
});

test('the sealer refuses what it cannot seal and keeps a refused seal for later', () => {
  const key = generateSecretKey();
  const s = sealerFor({ key });
  s.answer('full');
  assert.equal(s.send(utf8.encode('x')), 'full', 'mm is full: the service hears it, no number is used');
  s.answer('ok');
  assert.equal(s.send(new Uint8Array(64 * 1024 - 100)), 'ok');
  assert.equal(s.sealer.counters.oversized, 1, 'over SERVICE_PAYLOAD_MAX: dropped and counted');
  assert.equal(s.send(utf8.encode('x'), 'bad/stream'), 'ok');
  assert.equal(s.sealer.counters.malformed, 1);
  assert.equal(s.send(utf8.encode('1')), 'ok');
  assert.equal(s.out.length, 2, 'record 1 and its seal');
  s.send(utf8.encode('2'));
  s.answer('full');
  s.clock.advance(20);
  assert.equal(s.sealer.counters.sealsRefused, 1);
  s.answer('ok');
  s.clock.advance(20);
  const v = verifierFor({ [`${DEVICE_ID}/${SERVICE}`]: key });
  assert.deepEqual(kinds(feed(v, s.out)), ['ok', 'ok']);
});

test('the simulated device: the sensor publishes as before, and every reading verifies against the SH registry', () => {
  const f = simFleet();
  f.device.boot();
  f.clock.advance(10 * f.intervalMs);
  const registry = f.demo.sh.get(SERVICE)!.registry!;
  const v = new ServiceDataVerifier({
    keyOf: (deviceId, service) => f.demo.sh.get(service)?.registry?.keyFor(deviceId, serviceInstance(service))?.publicKey,
    now: () => f.clock.now(),
  });
  assert.ok(registry.keyFor(DEVICE_ID, 'sm:sensor'));
  const outcomes = f.service.flatMap((p) => v.receive(topics.serviceOut(p.service, DEVICE_ID, p.stream), p.payload));
  const readings = outcomes.flatMap((o) => (o.kind === 'ok' ? [JSON.parse(new TextDecoder().decode(o.payload)) as Reading] : []));
  assert.ok(readings.length >= 8, `readings verified: ${readings.length}`);
  assert.deepEqual(
    outcomes.filter((o) => o.kind !== 'ok'),
    [],
    'nothing the device sent fails',
  );
  assert.deepEqual(
    readings.map((r) => r.seq),
    readings.map((_, i) => i + 1),
    "the sensor's own numbering, unchanged",
  );
  assert.ok(readings.every((r) => typeof r.celsius === 'number'));
  // A reading injected under the device's name, as anyone on the broker could, does not pass.
  v.receive(topics.serviceOut(SERVICE, DEVICE_ID, STREAM), encodeRecord(1n, 9999, utf8.encode('{"seq":9999,"celsius":80}')));
  f.clock.advance(10_000);
  assert.deepEqual(kinds(v.expire()), ['forged:unsealed']);
});
