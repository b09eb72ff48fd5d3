import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChannelError,
  FrameReader,
  createTestKit,
  defineChannel,
  encodeFrame,
  openChannel,
  rawCodec,
  type MessageCodec,
} from '../../runtime/index.ts';

interface Ping {
  seq: number;
  note: string;
}
const PingCodec: MessageCodec<Ping> = {
  name: 'test.Ping',
  encode: (m) => new TextEncoder().encode(JSON.stringify(m)),
  decode: (b) => {
    const v: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b));
    if (typeof v !== 'object' || v === null || typeof (v as Ping).seq !== 'number') throw new Error('not a Ping');
    return v as Ping;
  },
};
const BlobCodec = rawCodec('test.Blob');
const OtherCodec: MessageCodec<Ping> = { ...PingCodec, name: 'test.Other' };

type Rx = { type: 'ping'; ping: Ping } | { type: 'blob'; bytes: Uint8Array };

function setup(maxFrameBytes = 64) {
  const kit = createTestKit();
  const left = kit.system.domain('left', { priority: 1 });
  const right = kit.system.domain('right', { priority: 2 });
  const spec = defineChannel({ name: 'lr', types: [PingCodec, BlobCodec], maxFrameBytes });
  const ch = openChannel(spec, left, right, { inletCapacity: 4 });
  left.start();
  right.start();
  const got = kit.probe<Rx>('rx');
  ch.b.route(PingCodec, got, (ping): Rx => ({ type: 'ping', ping }));
  ch.b.route(BlobCodec, got, (bytes): Rx => ({ type: 'blob', bytes }));
  const rejected: ChannelError[] = [];
  ch.a.onReject((e) => rejected.push(e));
  ch.b.onReject((e) => rejected.push(e));
  return { kit, ch, got, rejected, left, right };
}

test('a message crosses as bytes and arrives as a new object of its declared type', () => {
  const { kit, ch, got } = setup();
  const ping = { seq: 1, note: 'hi' };
  assert.equal(ch.a.send(PingCodec, ping), true);
  kit.run();
  const rx = got.received[0];
  assert.ok(rx && rx.type === 'ping');
  assert.deepEqual(rx.ping, ping);
  assert.notEqual(rx.ping, ping, 'no object crosses a domain');
  assert.equal(ch.a.counters.sent, 1);
  assert.equal(ch.b.counters.delivered, 1);
});

test("types are addressed by name: a copy of a codec (another bundle's) sends and routes as the same type", () => {
  const { kit, ch, got } = setup();
  const copy: MessageCodec<Ping> = { ...PingCodec }; // same name and wire format, another object
  assert.equal(ch.a.send(copy, { seq: 7, note: 'copy' }), true);
  kit.run();
  assert.deepEqual(got.received, [{ type: 'ping', ping: { seq: 7, note: 'copy' } }]);
});

test('each rejection is typed, counted, and the channel keeps working', () => {
  const { kit, ch, got, rejected } = setup(64);
  // undeclared type on send
  assert.equal(ch.a.send(OtherCodec, { seq: 2, note: '' }), false);
  // oversized on send
  assert.equal(ch.a.send(BlobCodec, new Uint8Array(100)), false);
  // undeclared type id, truncated, oversized and undecodable frames injected at the receiving side
  ch.a.sendFrame(encodeFrame('lr', 7, new Uint8Array(3), 64));
  ch.a.sendFrame(new Uint8Array([0, 0]));
  kit.run();
  ch.a.sendFrame(new Uint8Array(65));
  ch.a.sendFrame(encodeFrame('lr', 0, new Uint8Array([0xff, 0xfe]), 64));
  kit.run();
  assert.deepEqual(
    rejected.map((e) => e.code),
    ['undeclared-type', 'oversized', 'undeclared-type', 'truncated', 'oversized', 'undecodable'],
  );
  assert.ok(rejected.every((e) => e instanceof ChannelError && e.channel === 'lr'));
  assert.equal(ch.a.counters['undeclared-type'], 1);
  assert.equal(ch.a.counters.oversized, 1);
  assert.equal(ch.b.counters['undeclared-type'], 1);
  assert.equal(ch.b.counters.truncated, 1);
  assert.equal(ch.b.counters.oversized, 1);
  assert.equal(ch.b.counters.undecodable, 1);
  // still working
  assert.equal(ch.a.send(PingCodec, { seq: 3, note: 'after' }), true);
  kit.run();
  assert.equal(got.received.length, 1);
  assert.equal(kit.events.length, 0, 'no actor failed');
});

test('unrouted types, a full inlet and a stopped domain are refused and counted', () => {
  const { kit, ch, rejected, right } = setup();
  // b -> a: nobody routes Ping on side a
  assert.equal(ch.b.send(PingCodec, { seq: 1, note: '' }), true);
  kit.run();
  assert.equal(ch.a.counters.unrouted, 1);
  // fill b's inlet (capacity 4) without draining
  for (let i = 0; i < 4; i++) assert.equal(ch.a.send(PingCodec, { seq: i, note: '' }), true);
  assert.equal(ch.a.send(PingCodec, { seq: 9, note: '' }), false);
  assert.equal(ch.a.counters['receiver-full'], 1);
  kit.run();
  right.stop();
  assert.equal(ch.a.send(PingCodec, { seq: 10, note: '' }), false);
  assert.equal(ch.a.counters.closed, 1);
  assert.deepEqual(
    rejected.map((e) => e.code),
    ['unrouted', 'receiver-full', 'closed'],
  );
});

test('a full receiving actor refuses the delivery without faulting anyone', () => {
  const kit = createTestKit();
  const left = kit.system.domain('left');
  const right = kit.system.domain('right');
  const ch = openChannel(defineChannel({ name: 'x', types: [PingCodec], maxFrameBytes: 64 }), left, right);
  left.start();
  right.start();
  const slow = right.spawn<Ping>({ name: 'slow', capacity: 1, start: () => ({ receive: () => {} }) });
  ch.b.route(PingCodec, slow, (p) => p);
  // Both frames sit in the inlet; the inlet's turn delivers them back to back into a 1-slot mailbox.
  ch.a.send(PingCodec, { seq: 1, note: '' });
  ch.a.send(PingCodec, { seq: 2, note: '' });
  kit.run();
  assert.equal(ch.b.counters['receiver-full'], 1);
  assert.equal(ch.b.counters.delivered, 1);
  assert.equal(kit.events.length, 0);
});

test('FrameReader reassembles split frames and skips an oversized one without buffering it', () => {
  const frames: Uint8Array[] = [];
  const errors: ChannelError[] = [];
  const reader = new FrameReader(
    's',
    32,
    (f) => frames.push(f),
    (e) => errors.push(e),
  );
  const f1 = encodeFrame('s', 1, new Uint8Array([1, 2, 3]), 32);
  const big = new Uint8Array(4 + 1000);
  new DataView(big.buffer).setUint32(0, 1000);
  const f2 = encodeFrame('s', 2, new Uint8Array([4]), 32);
  const stream = new Uint8Array([...f1, ...big, ...f2]);
  for (let i = 0; i < stream.length; i += 7) reader.push(stream.subarray(i, i + 7));
  assert.deepEqual(frames, [f1, f2]);
  assert.deepEqual(
    errors.map((e) => e.code),
    ['oversized'],
  );
  assert.equal(reader.buffered, 0);
});

test('defineChannel refuses duplicate type names and silly limits', () => {
  assert.throws(() => defineChannel({ name: 'd', types: [PingCodec, PingCodec], maxFrameBytes: 64 }), /share a name/);
  assert.throws(() => defineChannel({ name: 'd', types: [PingCodec], maxFrameBytes: 4 }), /maxFrameBytes/);
});
