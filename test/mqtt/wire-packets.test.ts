/**
 * The hub's hand-framed MQTT codec and stream framer (actors/mqtt/wire/packets.ts, framer.ts), with no
 * network: a hub's request/reply path depends on them alone, so what they write must be what a broker
 * reads (CONNECT checked byte by byte, parsed back here by hand), what they read must come back exactly
 * as written however TCP cuts the stream (fast-check picks the cuts), a PUBLISH over our limit must be
 * let go unbuffered and reported once, and anything malformed must be a `MqttWireError` — never a
 * RangeError or a silent misread — since the session turns exactly that error into a clean disconnect.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framer, type FramerSink } from '../../actors/mqtt/wire/framer.ts';
import {
  CONNACK,
  decodePacket,
  DISCONNECT,
  DISCONNECT_BYTES,
  encodeConnect,
  encodeSubscribe,
  MqttWireError,
  PINGREQ_BYTES,
  PINGRESP,
  PUBACK,
  PUBLISH,
  publishSize,
  SUBACK,
  writePuback,
  writePublish,
  type ConnectFields,
  type IncomingPacket,
} from '../../actors/mqtt/wire/packets.ts';

// --- building and cutting frames by hand (independent of the code under test) -------------------

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A UTF-8 string or binary field: two-byte length, then the bytes. */
function field(s: string | Uint8Array): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A whole frame: header byte, remaining length, body. */
function frame(first: number, ...body: (Buffer | readonly number[])[]): Buffer {
  const b = Buffer.concat(body.map((part) => (Buffer.isBuffer(part) ? part : Buffer.from(part))));
  return Buffer.concat([Buffer.from([first, ...varint(b.length)]), b]);
}

/** Where the body of the frame at `at` lies (header parsed here, not by the Framer). */
function bounds(buf: Buffer, at = 0): { first: number; start: number; end: number } {
  let remaining = 0;
  let i = at + 1;
  for (let mult = 1; ; mult *= 128) {
    const byte = buf[i++]!;
    remaining += (byte & 0x7f) * mult;
    if ((byte & 0x80) === 0) break;
  }
  return { first: buf[at]!, start: i, end: i + remaining };
}

/** Decodes the one frame at `at` of `buf`. */
function decodeFrame(buf: Buffer, v5: boolean, at = 0): IncomingPacket {
  const { first, start, end } = bounds(buf, at);
  return decodePacket(first, buf, start, end, v5);
}

/** `fn` throws, and what it throws is a MqttWireError. */
function assertWireError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MqttWireError, `expected MqttWireError, got ${String(e)}`);
    if (message !== undefined) assert.match(e.message, message);
    return true;
  });
}

interface PublishCase {
  readonly v5: boolean;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly packetId: number;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly expirySeconds: number | undefined;
}

/** `writePublish` into a buffer with `pad` bytes of junk either side; returns the buffer and where the frame is. */
function written(p: PublishCase, pad = 0): { buf: Buffer; at: number; size: number } {
  const topicBytes = Buffer.byteLength(p.topic);
  const size = publishSize(p.v5, p.qos, topicBytes, p.payload.length, p.expirySeconds);
  const buf = Buffer.alloc(pad + size + pad, 0xa5);
  const after = writePublish(buf, pad, {
    v5: p.v5,
    qos: p.qos,
    retain: p.retain,
    packetId: p.packetId,
    topic: p.topic,
    topicBytes,
    payload: p.payload,
    ...(p.expirySeconds !== undefined ? { expirySeconds: p.expirySeconds } : {}),
  });
  assert.equal(after, pad + size, 'writePublish returns the offset just after the frame, publishSize bytes on');
  return { buf, at: pad, size };
}

function publishBytes(p: PublishCase): Buffer {
  return written(p).buf;
}

// Topics with non-ASCII text: fast-check's graphemes (any script, emoji) and a few fixed ones.
const topicArb = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.constantFrom('dominion/v1/device/pi-0001/request/ab12', 'ünïcødé/𝄞/日本語/🚀', 'a', 'x'.repeat(300)),
);

const publishArb: fc.Arbitrary<PublishCase> = fc.record({
  v5: fc.boolean(),
  qos: fc.constantFrom<0 | 1>(0, 1),
  retain: fc.boolean(),
  packetId: fc.integer({ min: 1, max: 65_535 }),
  topic: topicArb,
  payload: fc.uint8Array({ maxLength: 2000 }),
  expirySeconds: fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined }),
});

// --- PUBLISH round trip ----------------------------------------------------------------------------

describe('PUBLISH: writePublish then decodePacket', () => {
  it('gives back topic, QoS, packet id and payload (v5 and 3.1.1, QoS 0/1, with and without expiry)', () => {
    fc.assert(
      fc.property(publishArb, fc.integer({ min: 0, max: 9 }), (p, pad) => {
        const { buf, at, size } = written(p, pad);
        const { first, start, end } = bounds(buf, at);
        assert.equal(end, at + size, 'the remaining length covers exactly the frame');
        assert.equal(first, 0x30 | (p.qos << 1) | (p.retain ? 1 : 0), 'header: type 3, QoS, retain');
        const got = decodePacket(first, buf, start, end, p.v5);
        assert.equal(got.type, PUBLISH);
        if (got.type !== PUBLISH) return;
        assert.equal(got.topic, p.topic);
        assert.equal(got.qos, p.qos);
        assert.equal(got.packetId, p.qos === 1 ? p.packetId : 0);
        assert.deepEqual(new Uint8Array(got.payload), p.payload);
        assert.equal(got.payload.buffer, buf.buffer, 'the payload is a view of the read, not a copy');
        // The MQTT 5 properties, read by hand: none, or exactly a Message Expiry Interval.
        if (p.v5) {
          const propsAt = start + 2 + Buffer.byteLength(p.topic) + (p.qos === 1 ? 2 : 0);
          if (p.expirySeconds === undefined) assert.equal(buf[propsAt], 0);
          else {
            assert.deepEqual([...buf.subarray(propsAt, propsAt + 2)], [5, 0x02]);
            assert.equal(buf.readUInt32BE(propsAt + 2), p.expirySeconds);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('3.1.1 ignores an expiry (it has no properties section); both versions byte for byte', () => {
    const p: PublishCase = {
      v5: false,
      qos: 1,
      retain: false,
      packetId: 0x0102,
      topic: 'a/ü',
      payload: Buffer.from('hi'),
      expirySeconds: 30,
    };
    assert.deepEqual(publishBytes(p), frame(0x32, field('a/ü'), [1, 2], Buffer.from('hi')));
    assert.deepEqual(
      publishBytes({ ...p, v5: true, qos: 0, retain: true }),
      frame(0x31, field('a/ü'), [5, 0x02], u32(30), Buffer.from('hi')),
    );
    assert.deepEqual(
      publishBytes({ ...p, v5: true, expirySeconds: undefined, payload: new Uint8Array(0) }),
      frame(0x32, field('a/ü'), [1, 2], [0]),
    );
  });
});

// --- other packets, exactly ------------------------------------------------------------------------

describe('the small packets', () => {
  it('PUBACK, SUBSCRIBE, PINGREQ and DISCONNECT are the bytes MQTT specifies', () => {
    const out = Buffer.alloc(6, 0xff);
    assert.equal(writePuback(out, 1, 0xbeef), 5);
    assert.deepEqual([...out], [0xff, 0x40, 0x02, 0xbe, 0xef, 0xff]);
    assert.deepEqual(encodeSubscribe(false, 7, 'dominion/+/ü'), frame(0x82, [0, 7], field('dominion/+/ü'), [1]));
    assert.deepEqual(encodeSubscribe(true, 0x1234, 'a/#'), frame(0x82, [0x12, 0x34, 0], field('a/#'), [1]));
    assert.deepEqual([...PINGREQ_BYTES], [0xc0, 0]);
    assert.deepEqual([...DISCONNECT_BYTES], [0xe0, 0]);
  });

  it('decodes CONNACK on 3.1.1 and 5, keeping Receive Maximum, Maximum Packet Size and the reason, skipping the rest', () => {
    assert.deepEqual(decodeFrame(Buffer.from([0x20, 2, 1, 0]), false), {
      type: CONNACK,
      sessionPresent: true,
      code: 0,
      receiveMaximum: 65_535,
      maximumPacketSize: 0,
    });
    assert.deepEqual(decodeFrame(Buffer.from([0x20, 3, 0, 0, 0]), true), {
      type: CONNACK,
      sessionPresent: false,
      code: 0,
      receiveMaximum: 65_535,
      maximumPacketSize: 0,
    });
    // Every kind of property a CONNACK may carry, ours among them.
    const props = Buffer.concat([
      Buffer.from([0x11]), u32(0), // session expiry
      Buffer.from([0x21]), u16(20), // receive maximum
      Buffer.from([0x24, 1, 0x25, 1]), // maximum QoS, retain available
      Buffer.from([0x27]), u32(100_000), // maximum packet size
      Buffer.from([0x12]), field('auto-ü'), // assigned client id
      Buffer.from([0x22]), u16(10), // topic alias maximum
      Buffer.from([0x1f]), field('fine, thanks'), // reason string
      Buffer.from([0x26]), field('k'), field('v'), // user property
      Buffer.from([0x28, 1, 0x29, 1, 0x2a, 1]), // wildcard, subscription id, shared subscription available
      Buffer.from([0x13]), u16(60), // server keep alive
      Buffer.from([0x1a]), field('info'), // response information
      Buffer.from([0x1c]), field('elsewhere'), // server reference
      Buffer.from([0x15]), field('SCRAM'), Buffer.from([0x16]), field(Buffer.from([1, 2, 3])), // authentication
    ]); // prettier-ignore
    assert.deepEqual(decodeFrame(frame(0x20, [0, 0], varint(props.length), props), true), {
      type: CONNACK,
      sessionPresent: false,
      code: 0,
      receiveMaximum: 20,
      maximumPacketSize: 100_000,
      reason: 'fine, thanks',
    });
    const refused = decodeFrame(frame(0x20, [0, 0x87], [1 + 2 + 4], [0x1f], field('nope')), true);
    assert.deepEqual(refused, {
      type: CONNACK,
      sessionPresent: false,
      code: 0x87,
      receiveMaximum: 65_535,
      maximumPacketSize: 0,
      reason: 'nope',
    });
  });

  it('decodes PUBACK, SUBACK, PINGRESP and DISCONNECT with and without MQTT 5 extras', () => {
    assert.deepEqual(decodeFrame(Buffer.from([0x40, 2, 0, 9]), false), { type: PUBACK, packetId: 9, code: 0 });
    assert.deepEqual(decodeFrame(Buffer.from([0x40, 3, 1, 0, 0x87]), true), { type: PUBACK, packetId: 256, code: 0x87 });
    assert.deepEqual(decodeFrame(frame(0x40, [0, 5, 0x10], [6, 0x1f], field('why')), true), { type: PUBACK, packetId: 5, code: 0x10 });
    assert.deepEqual(decodeFrame(Buffer.from([0x90, 4, 0, 3, 1, 0x80]), false), { type: SUBACK, packetId: 3, codes: [1, 0x80] });
    assert.deepEqual(decodeFrame(frame(0x90, [0, 3], [6, 0x1f], field('why'), [1]), true), { type: SUBACK, packetId: 3, codes: [1] });
    assert.deepEqual(decodeFrame(Buffer.from([0xd0, 0]), true), { type: PINGRESP });
    assert.deepEqual(decodeFrame(Buffer.from([0xe0, 0]), true), { type: DISCONNECT, code: 0 });
    assert.deepEqual(decodeFrame(Buffer.from([0xe0, 1, 0x8b]), true), { type: DISCONNECT, code: 0x8b });
    assert.deepEqual(decodeFrame(frame(0xe0, [0x8b, 9, 0x1f], field('bye ü')), true), { type: DISCONNECT, code: 0x8b, reason: 'bye ü' });
  });
});

// --- CONNECT, byte for byte ----------------------------------------------------------------------

interface ParsedConnect {
  readonly protocol: string;
  readonly level: number;
  readonly flags: number;
  readonly keepalive: number;
  /** MQTT 5 CONNECT properties, by id (two- and four-byte integers, which is all we send). */
  readonly properties?: ReadonlyMap<number, number>;
  readonly clientId: string;
  readonly willPropertiesLength?: number;
  readonly willTopic?: string;
  readonly willPayload?: Buffer;
  readonly username?: string;
  readonly password?: Buffer;
}

/** Reads a CONNECT back field by field, checking its remaining length and that nothing is left over. */
function parseConnect(b: Buffer): ParsedConnect {
  const { first, start, end } = bounds(b);
  assert.equal(first, 0x10, 'a CONNECT header');
  assert.equal(end, b.length, 'the remaining length covers exactly the rest');
  let at = start;
  const take = (n: number): Buffer => {
    assert.ok(at + n <= end, 'a field runs past the packet');
    const part = b.subarray(at, at + n);
    at += n;
    return part;
  };
  const binary = (): Buffer => take(take(2).readUInt16BE());
  const text = (): string => binary().toString('utf8');
  const byte = (): number => take(1)[0]!;
  const vbi = (): number => {
    let value = 0;
    for (let mult = 1; ; mult *= 128) {
      const x = byte();
      value += (x & 0x7f) * mult;
      if ((x & 0x80) === 0) return value;
    }
  };
  const protocol = text();
  const level = byte();
  const flags = byte();
  const keepalive = take(2).readUInt16BE();
  let properties: Map<number, number> | undefined;
  if (level === 5) {
    properties = new Map();
    const length = vbi();
    const propsEnd = at + length;
    while (at < propsEnd) {
      const id = byte();
      const size = ({ 0x21: 2, 0x27: 4, 0x11: 4 } as Record<number, number>)[id];
      assert.ok(size !== undefined, `property 0x${id.toString(16)} is one this test knows`);
      properties.set(id, size === 2 ? take(2).readUInt16BE() : take(4).readUInt32BE());
    }
    assert.equal(at, propsEnd, 'the properties fill their length exactly');
  }
  const clientId = text();
  const out: { -readonly [K in keyof ParsedConnect]: ParsedConnect[K] } = { protocol, level, flags, keepalive, clientId };
  if (properties !== undefined) out.properties = properties;
  if ((flags & 0x04) !== 0) {
    if (level === 5) out.willPropertiesLength = vbi();
    out.willTopic = text();
    out.willPayload = Buffer.from(binary());
  }
  if ((flags & 0x80) !== 0) out.username = text();
  if ((flags & 0x40) !== 0) out.password = Buffer.from(binary());
  assert.equal(at, end, 'nothing after the last field');
  return out;
}

describe('encodeConnect', () => {
  it('3.1.1 with a Will, username and password: byte for byte', () => {
    const c: ConnectFields = {
      v5: false,
      clientId: 'hub-ih-1',
      keepaliveSeconds: 30,
      will: { topic: 'dominion/v1/hub/ih-1/status', payload: Buffer.from('offline'), qos: 1, retain: true },
      username: 'hub-ü',
      password: new Uint8Array([0x00, 0xff, 0x10]),
      // Not sent on 3.1.1: it has no properties.
      receiveMaximum: 16,
      maximumPacketSize: 4096,
    };
    const expected = frame(
      0x10,
      field('MQTT'),
      [4], // protocol level: 3.1.1
      [0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02], // username, password, will retain, will QoS 1, will, clean session
      [0, 30], // keep-alive
      field('hub-ih-1'),
      field('dominion/v1/hub/ih-1/status'),
      field(Buffer.from('offline')),
      field('hub-ü'),
      field(new Uint8Array([0x00, 0xff, 0x10])),
    );
    const got = encodeConnect(c);
    assert.equal(got.toString('hex'), expected.toString('hex'));
    assert.deepEqual(parseConnect(got), {
      protocol: 'MQTT',
      level: 4,
      flags: 0xee,
      keepalive: 30,
      clientId: 'hub-ih-1',
      willTopic: 'dominion/v1/hub/ih-1/status',
      willPayload: Buffer.from('offline'),
      username: 'hub-ü',
      password: Buffer.from([0x00, 0xff, 0x10]),
    });
  });

  it('5 with Receive Maximum and Maximum Packet Size: byte for byte', () => {
    const got = encodeConnect({ v5: true, clientId: 'ih', keepaliveSeconds: 0x1234, receiveMaximum: 64, maximumPacketSize: 96 * 1024 });
    const expected = frame(0x10, field('MQTT'), [5, 0x02, 0x12, 0x34], [8, 0x21, 0, 64, 0x27, 0, 0x01, 0x80, 0], field('ih'));
    assert.equal(got.toString('hex'), expected.toString('hex'));
    const parsed = parseConnect(got);
    assert.equal(parsed.level, 5);
    assert.equal(parsed.flags, 0x02, 'clean start, nothing else');
    assert.deepEqual(parsed.properties, new Map([[0x21, 64], [0x27, 96 * 1024]])); // prettier-ignore
    // Without them, an empty properties section; a v5 Will has its own (empty) properties.
    assert.equal(
      encodeConnect({ v5: true, clientId: '', keepaliveSeconds: 60 }).toString('hex'),
      frame(0x10, field('MQTT'), [5, 0x02, 0, 60, 0], field('')).toString('hex'),
    );
    const withWill = encodeConnect({
      v5: true,
      clientId: 'c',
      keepaliveSeconds: 1,
      will: { topic: 'w', payload: new Uint8Array([9]), qos: 0, retain: false },
      maximumPacketSize: 1,
    });
    assert.equal(
      withWill.toString('hex'),
      frame(0x10, field('MQTT'), [5, 0x06, 0, 1, 5, 0x27, 0, 0, 0, 1], field('c'), [0], field('w'), [0, 1, 9]).toString('hex'),
    );
  });

  it('any fields parse back as given', () => {
    const connectArb: fc.Arbitrary<ConnectFields> = fc.record(
      {
        v5: fc.boolean(),
        clientId: fc.string({ unit: 'grapheme', maxLength: 23 }),
        keepaliveSeconds: fc.integer({ min: 0, max: 65_535 }),
        will: fc.record({
          topic: topicArb,
          payload: fc.uint8Array({ maxLength: 300 }),
          qos: fc.constantFrom<0 | 1>(0, 1),
          retain: fc.boolean(),
        }),
        username: fc.string({ unit: 'grapheme', maxLength: 30 }),
        password: fc.uint8Array({ maxLength: 64 }),
        receiveMaximum: fc.integer({ min: 1, max: 65_535 }),
        maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
      },
      { requiredKeys: ['v5', 'clientId', 'keepaliveSeconds'] },
    );
    fc.assert(
      fc.property(connectArb, (c) => {
        const p = parseConnect(encodeConnect(c));
        assert.equal(p.protocol, 'MQTT');
        assert.equal(p.level, c.v5 ? 5 : 4);
        assert.equal(p.keepalive, c.keepaliveSeconds);
        assert.equal(p.clientId, c.clientId);
        const willFlags = c.will === undefined ? 0 : 0x04 | (c.will.qos << 3) | (c.will.retain ? 0x20 : 0);
        assert.equal(p.flags, 0x02 | willFlags | (c.password !== undefined ? 0x40 : 0) | (c.username !== undefined ? 0x80 : 0));
        if (c.v5) {
          const expected = new Map<number, number>();
          if (c.receiveMaximum !== undefined) expected.set(0x21, c.receiveMaximum);
          if (c.maximumPacketSize !== undefined) expected.set(0x27, c.maximumPacketSize);
          assert.deepEqual(p.properties, expected);
        } else assert.equal(p.properties, undefined);
        assert.equal(p.willTopic, c.will?.topic);
        assert.deepEqual(p.willPayload, c.will === undefined ? undefined : Buffer.from(c.will.payload));
        assert.equal(p.willPropertiesLength, c.will !== undefined && c.v5 ? 0 : undefined);
        assert.equal(p.username, c.username);
        assert.deepEqual(p.password, c.password === undefined ? undefined : Buffer.from(c.password));
      }),
      { numRuns: 300 },
    );
  });
});

// --- the Framer --------------------------------------------------------------------------------------

type Event =
  | { readonly kind: 'packet'; readonly first: number; readonly body: string }
  | { readonly kind: 'oversized'; readonly topic: string; readonly qos: number; readonly packetId: number; readonly bytes: number };

/** A sink that copies what it is shown (views are only valid during the call). */
function recorder(): { sink: FramerSink; events: Event[]; views: Buffer[] } {
  const events: Event[] = [];
  const views: Buffer[] = [];
  return {
    events,
    views,
    sink: {
      packet(first, buf, start, end) {
        assert.ok(0 <= start && start <= end && end <= buf.length, 'a packet lies within its buffer');
        views.push(buf);
        events.push({ kind: 'packet', first, body: buf.toString('hex', start, end) });
      },
      oversized(topic, qos, packetId, bytes) {
        events.push({ kind: 'oversized', topic, qos, packetId, bytes });
      },
    },
  };
}

/** Feeds `stream` cut at `cuts` (offsets, any order, duplicates allowed) and returns what the sink saw. */
function feed(limit: number, stream: Buffer, cuts: readonly number[] = []): Event[] {
  const r = recorder();
  const framer = new Framer(limit, r.sink);
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, stream.length]) {
    // A copy per read, as a socket gives: nothing may point into a previous read's memory by accident.
    if (to > from) framer.push(Buffer.from(stream.subarray(from, to)));
    from = Math.max(from, to);
  }
  assert.equal(carried(framer), 0, 'nothing is left over at the end of a whole stream');
  return r.events;
}

/**
 * Bytes the Framer carries between reads. A private field, read here because the claim under test is
 * about memory (an oversized packet is never buffered), which no sink callback can show.
 */
function carried(framer: Framer): number {
  assert.ok(Object.hasOwn(framer, 'carry'), 'the Framer keeps its partial packet in `carry` (rename this probe with it)');
  return (framer as unknown as { carry: Buffer | undefined }).carry?.length ?? 0;
}

interface StreamItem {
  readonly bytes: Buffer;
  /** For a PUBLISH: what an `oversized` report must say. */
  readonly publish?: { readonly topic: string; readonly qos: number; readonly packetId: number };
}

const itemArb: fc.Arbitrary<StreamItem> = fc.oneof(
  {
    weight: 4,
    arbitrary: publishArb.map((p) => ({
      bytes: publishBytes(p),
      publish: { topic: p.topic, qos: p.qos, packetId: p.qos === 1 ? p.packetId : 0 },
    })),
  },
  fc.integer({ min: 1, max: 65_535 }).map((id) => {
    const out = Buffer.alloc(4);
    writePuback(out, 0, id);
    return { bytes: out };
  }),
  fc
    .tuple(fc.integer({ min: 1, max: 65_535 }), fc.constantFrom(0x10, 0x87), fc.string({ maxLength: 20 }))
    .map(([id, code, why]) => ({ bytes: frame(0x40, u16(id), [code], varint(3 + Buffer.byteLength(why)), [0x1f], field(why)) })),
  fc
    .tuple(fc.integer({ min: 1, max: 65_535 }), fc.array(fc.constantFrom(0, 1, 0x80), { minLength: 1, maxLength: 20 }))
    .map(([id, codes]) => ({ bytes: frame(0x90, u16(id), codes) })),
  fc
    .tuple(fc.integer({ min: 1, max: 65_535 }), fc.integer({ min: 0, max: 0xffff_ffff }))
    .map(([rm, mps]) => ({ bytes: frame(0x20, [0, 0, 8, 0x21], u16(rm), [0x27], u32(mps)) })),
  fc.constant({ bytes: Buffer.from([0xd0, 0]) }),
);

/** What a Framer with `limit` must report for `items`, in order. */
function expectedEvents(items: readonly StreamItem[], limit: number): Event[] {
  return items.map((item) => {
    if (item.bytes.length <= limit) {
      const { first, start, end } = bounds(item.bytes);
      return { kind: 'packet', first, body: item.bytes.toString('hex', start, end) };
    }
    assert.ok(item.publish !== undefined, 'only a PUBLISH is made larger than the limit');
    return { kind: 'oversized', ...item.publish, bytes: item.bytes.length };
  });
}

describe('Framer', () => {
  it('cuts a stream into the same packets, in order, wherever the reads split it', () => {
    fc.assert(
      fc.property(
        fc.array(itemArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.constantFrom(1 << 20, 256),
        (items, cuts, limit) => {
          const stream = Buffer.concat(items.map((i) => i.bytes));
          const whole = feed(limit, stream);
          assert.deepEqual(whole, expectedEvents(items, limit));
          assert.deepEqual(feed(limit, stream, cuts), whole);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hands a packet that came whole in one read over as a view of that read, not a copy', () => {
    const r = recorder();
    const read = Buffer.concat([Buffer.from([0x40, 2, 0, 1]), Buffer.from([0xd0, 0])]);
    new Framer(1024, r.sink).push(read);
    assert.equal(r.views.length, 2);
    assert.ok(r.views.every((v) => v === read));
  });

  it('takes a packet of exactly the limit; one byte more is oversized', () => {
    const base: PublishCase = {
      v5: true,
      qos: 1,
      retain: false,
      packetId: 77,
      topic: 't/ü',
      payload: new Uint8Array(100),
      expirySeconds: undefined,
    };
    const at = publishBytes(base);
    assert.deepEqual(feed(at.length, at), expectedEvents([{ bytes: at }], at.length));
    assert.equal(feed(at.length, at)[0]!.kind, 'packet');
    assert.deepEqual(feed(at.length - 1, at), [{ kind: 'oversized', topic: 't/ü', qos: 1, packetId: 77, bytes: at.length }]);
  });
});

describe('Framer: a PUBLISH over the limit', () => {
  const before: StreamItem = {
    bytes: publishBytes({
      v5: false,
      qos: 1,
      retain: false,
      packetId: 1,
      topic: 'small/1',
      payload: Buffer.from('a'),
      expirySeconds: undefined,
    }),
  };
  const big = { topic: 'big/ünïcødé/🚀', qos: 1, packetId: 0x4242 };
  const oversized: StreamItem = {
    bytes: publishBytes({
      v5: false,
      qos: 1,
      retain: false,
      packetId: big.packetId,
      topic: big.topic,
      payload: Buffer.alloc(20_000, 7),
      expirySeconds: undefined,
    }),
    publish: big,
  };
  const qos0: StreamItem = {
    bytes: publishBytes({
      v5: false,
      qos: 0,
      retain: true,
      packetId: 9,
      topic: 'big/0',
      payload: Buffer.alloc(5000, 1),
      expirySeconds: undefined,
    }),
    publish: { topic: 'big/0', qos: 0, packetId: 0 },
  };
  const after: StreamItem = { bytes: Buffer.from([0x40, 2, 0x12, 0x34]) };
  const items = [before, oversized, after, qos0, before];
  const stream = Buffer.concat(items.map((i) => i.bytes));
  const limit = 1024;

  it('fed whole: reported once, with topic, QoS, packet id and size; the packets around it intact', () => {
    const events = feed(limit, stream);
    assert.deepEqual(events, expectedEvents(items, limit));
    assert.deepEqual(events[1], { kind: 'oversized', ...big, bytes: oversized.bytes.length });
    assert.deepEqual(events[3], { kind: 'oversized', topic: 'big/0', qos: 0, packetId: 0, bytes: qos0.bytes.length });
  });

  it('fed one byte at a time: the same, and never more than a header carried', () => {
    const r = recorder();
    const framer = new Framer(limit, r.sink);
    let most = 0;
    for (let i = 0; i < stream.length; i++) {
      framer.push(stream.subarray(i, i + 1));
      most = Math.max(most, carried(framer));
    }
    assert.deepEqual(r.events, expectedEvents(items, limit));
    // The largest thing carried is a packet under the limit, or the oversized one's header up to its packet id.
    assert.ok(most <= limit, `carried at most ${most} bytes`);
  });

  it('1 MB in 64 KB reads: nothing but one `oversized` call, and no read is ever kept', () => {
    const topic = 'dominion/v1/device/pi-0001/request/𝄞';
    const bytes = publishBytes({
      v5: false,
      qos: 1,
      retain: false,
      packetId: 65_535,
      topic,
      payload: Buffer.alloc(1 << 20, 0x5a),
      expirySeconds: undefined,
    });
    const r = recorder();
    const framer = new Framer(96 * 1024, r.sink);
    const header = 1 + 4 + 2 + Buffer.byteLength(topic) + 2;
    let reads = 0;
    for (let at = 0; at < bytes.length; at += 64 * 1024) {
      framer.push(bytes.subarray(at, at + 64 * 1024));
      reads++;
      assert.ok(carried(framer) <= header, `after read ${reads}: ${carried(framer)} bytes carried`);
      if (at + 64 * 1024 < bytes.length) assert.deepEqual(r.events, [], 'nothing reported before its last byte has passed');
    }
    assert.equal(reads, 17);
    assert.deepEqual(r.events, [{ kind: 'oversized', topic, qos: 1, packetId: 65_535, bytes: bytes.length }]);
    assert.equal(carried(framer), 0);
  });

  it('its header split anywhere (even inside the topic): still one report, the next packet intact', () => {
    const two = Buffer.concat([oversized.bytes, after.bytes]);
    for (let cut = 1; cut < 40; cut++) {
      assert.deepEqual(feed(limit, two, [cut]), expectedEvents([oversized, after], limit), `cut at ${cut}`);
    }
  });

  it('anything else over the limit is a MqttWireError', () => {
    const suback = frame(0x90, [0, 1], Buffer.alloc(2000, 1));
    assertWireError(() => new Framer(limit, recorder().sink).push(suback), /exceeds our limit/);
  });

  it('an oversized PUBLISH whose topic length runs past its own remaining length is a MqttWireError', () => {
    // Remaining length 2000 (> limit 1024) but topic length 0xfff0: not a PUBLISH a broker may send.
    const bad = frame(0x30, [0xff, 0xf0], Buffer.alloc(1998, 0x61));
    const r = recorder();
    const framer = new Framer(limit, r.sink);
    let error: unknown;
    try {
      framer.push(bad);
      framer.push(Buffer.from([0x40, 2, 0, 5]));
    } catch (e) {
      error = e;
    }
    assert.ok(
      error instanceof MqttWireError,
      `no MqttWireError; the PUBACK after it was ${r.events.length === 0 ? `held back (${carried(framer)} bytes carried)` : 'delivered'}`,
    );
  });
});

// --- malformed input ---------------------------------------------------------------------------------

describe('malformed input is a MqttWireError, never another error', () => {
  it('a remaining length of 5 bytes (whole, and byte by byte)', () => {
    const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0]);
    assertWireError(() => new Framer(1 << 20, recorder().sink).push(bad), /longer than 4 bytes/);
    const framer = new Framer(1 << 20, recorder().sink);
    for (let i = 0; i < 4; i++) framer.push(bad.subarray(i, i + 1)); // still incomplete: not an error yet
    assertWireError(() => framer.push(bad.subarray(4, 5)), /longer than 4 bytes/);
  });

  it('a PUBLISH at QoS 2 (or 3)', () => {
    const body = Buffer.concat([field('t'), u16(1), Buffer.from('x')]);
    for (const first of [0x34, 0x36, 0x3d]) {
      assertWireError(() => decodePacket(first, body, 0, body.length, false), /QoS [23]/);
      assertWireError(() => decodePacket(first, body, 0, body.length, true), /QoS [23]/);
    }
  });

  it('a CONNACK whose property length runs past the packet', () => {
    const bad = frame(0x20, [0, 0, 8, 0x21, 0, 10]);
    assertWireError(() => decodeFrame(bad, true), /run past the packet/);
    // … or whose last property runs past the property length (inside the packet).
    const over = frame(0x20, [0, 0, 2, 0x21, 0, 10, 0, 0]);
    assertWireError(() => decodeFrame(over, true), /run past their length/);
    // … or a string property longer than the packet.
    assertWireError(() => decodeFrame(frame(0x20, [0, 0, 5, 0x1f, 0, 200, 0x61, 0x61]), true), /shorter than its fields/);
  });

  it('a packet type a broker does not send a client (CONNECT, SUBSCRIBE, …, reserved)', () => {
    const body = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 0]);
    for (const type of [0, 1, 5, 6, 7, 8, 10, 11, 12, 15]) {
      assertWireError(() => decodePacket(type << 4, body, 0, body.length, true), new RegExp(`type ${type}\\b`));
      assertWireError(() => decodePacket(type << 4, body, 0, body.length, false));
    }
  });

  it('an unknown property id (in CONNACK and DISCONNECT)', () => {
    assertWireError(() => decodeFrame(frame(0x20, [0, 0, 2, 0x7f, 1]), true), /unknown MQTT property 0x7f/);
    assertWireError(() => decodeFrame(frame(0xe0, [0x8b, 2, 0x04, 1]), true), /unknown MQTT property 0x4/);
    // A property id is a variable byte integer: a two-byte one (129) is unknown, not misread as 0x01.
    assertWireError(() => decodeFrame(frame(0x20, [0, 0, 3, 0x81, 0x01, 0x00]), true), /unknown MQTT property 0x81/);
  });

  it('a truncated PUBACK, SUBACK, CONNACK or PUBLISH', () => {
    assertWireError(() => decodeFrame(Buffer.from([0x40, 1, 0]), false), /shorter than its fields/);
    assertWireError(() => decodeFrame(Buffer.from([0x40, 0]), true), /shorter than its fields/);
    // … even when the read goes on after it: the packet's end bounds the fields, not the buffer's.
    assertWireError(() => decodePacket(0x40, Buffer.from([0, 0x12, 0x34]), 0, 1, false), /shorter than its fields/);
    assertWireError(() => decodeFrame(Buffer.from([0x90, 1, 0]), false));
    assertWireError(() => decodeFrame(Buffer.from([0x90, 2, 0, 1]), true)); // v5: no property length
    assertWireError(() => decodeFrame(Buffer.from([0x20, 1, 0]), false));
    assertWireError(() => decodeFrame(frame(0x30, [0, 9, 0x61]), false)); // topic longer than the packet
    assertWireError(() => decodeFrame(frame(0x32, field('t'), [0]), false)); // no room for the packet id
    assertWireError(() => decodeFrame(frame(0x30, field('t')), true)); // v5: no property length
    assertWireError(() => decodeFrame(frame(0x30, field('t'), [0x85, 0x80]), true)); // property length past the end
    assertWireError(() => decodeFrame(frame(0x30, field('t'), [0xff, 0xff, 0xff, 0xff, 0x7f]), true), /longer than 4 bytes/);
  });

  /** Any byte, and the header bytes of the types we decode (so their bodies are fuzzed too). */
  const firstArb = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x20, 0x30, 0x31, 0x32, 0x33, 0x3a, 0x40, 0x90, 0xd0, 0xe0));
  /** Bodies that look like MQTT 5 property lists more often than random bytes would. */
  const propertyIds = [0x01, 0x02, 0x0b, 0x11, 0x12, 0x13, 0x1f, 0x21, 0x22, 0x24, 0x26, 0x27, 0x7f];
  const bodyArb = fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    fc
      .tuple(
        fc.uint8Array({ minLength: 0, maxLength: 3 }),
        fc.nat({ max: 40 }),
        fc.array(fc.tuple(fc.constantFrom(...propertyIds), fc.uint8Array({ maxLength: 6 })), { maxLength: 6 }),
      )
      .map(([prefix, length, props]) =>
        Buffer.concat([Buffer.from(prefix), Buffer.from([length]), ...props.map(([id, v]) => Buffer.from([id, ...v]))]),
      ),
  );

  /** What decoding gives: the packet (payload as bytes), or the error's kind. */
  function outcome(first: number, buf: Buffer, start: number, end: number, v5: boolean): unknown {
    try {
      const got = decodePacket(first, buf, start, end, v5);
      assert.equal(got.type, first >> 4);
      if (got.type === PUBLISH) {
        assert.ok(got.payload.byteOffset >= buf.byteOffset + start && got.payload.byteOffset + got.payload.length <= buf.byteOffset + end);
        return { ...got, payload: [...got.payload] };
      }
      return got;
    } catch (e) {
      assert.ok(e instanceof MqttWireError, `threw ${String(e)}`);
      return 'MqttWireError';
    }
  }

  it('fuzz: decodePacket on any bytes returns a packet or throws MqttWireError, reading nothing outside [start, end)', () => {
    fc.assert(
      fc.property(
        firstArb,
        bodyArb,
        fc.boolean(),
        fc.uint8Array({ maxLength: 8 }),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        (first, body, v5, before, after) => {
          const alone = outcome(first, Buffer.from(body), 0, body.length, v5);
          // The same body between junk: the same outcome, or the decoder read past its bounds.
          const padded = Buffer.concat([Buffer.from(before), Buffer.from(body), Buffer.from(after)]);
          assert.deepEqual(outcome(first, padded, before.length, before.length + body.length, v5), alone);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('fuzz: a Framer fed any bytes in any reads emits in-bounds packets or throws MqttWireError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 2, max: 300 }),
        (bytes, cuts, limit) => {
          try {
            feedLenient(limit, Buffer.from(bytes), cuts);
          } catch (e) {
            assert.ok(e instanceof MqttWireError, `threw ${String(e)}`);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

/** Like `feed`, for junk: whatever is incomplete at the end may stay carried. */
function feedLenient(limit: number, stream: Buffer, cuts: readonly number[]): void {
  const framer = new Framer(limit, recorder().sink);
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, stream.length]) {
    if (to > from) framer.push(Buffer.from(stream.subarray(from, to)));
    from = Math.max(from, to);
  }
}
