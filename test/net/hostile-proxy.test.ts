/**
 * The hostile MQTT proxy (bench/hostile/): framing across TCP chunking, drop, determinism given a
 * seed, stale injection, blackhole. Real sockets: a fake peer that records raw bytes on the broker
 * side, and one test over a real broker (embedded Aedes) with MQTT.js clients. Nothing here asserts
 * a timing: every wait is for bytes or events, bounded, and fails on timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  encodePublish,
  HostileProxy,
  PacketSplitter,
  parsePublish,
  PUBACK,
  packetType,
  replyTopicOf,
  type HostilePlan,
} from '../../bench/hostile/index.ts';
import { awaitConnected, connectMqtt, startEmbeddedBroker } from '../../actors/mqtt/index.ts';

const PINGREQ = Buffer.from([0xc0, 0x00]);
const CONNECT_LIKE = Buffer.from([0x10, 0x03, 1, 2, 3]); // not a valid CONNECT, but framed as one: passes untouched

/** Reads everything a socket receives; `until` waits for a condition on the bytes so far. */
class Recorder {
  bytes: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, chunk]);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  packets(): Buffer[] {
    return new PacketSplitter().push(this.bytes);
  }
  async until(what: string, pred: (r: Recorder) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }
}

interface Rig {
  proxy: HostileProxy;
  client: net.Socket;
  broker: net.Socket;
  atBroker: Recorder;
  atClient: Recorder;
  close(): Promise<void>;
}

/** client ⇄ proxy ⇄ a fake broker that records what reaches it. */
async function rig(plan: HostilePlan, seed = 1): Promise<Rig> {
  const server = net.createServer({ noDelay: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const proxy = await HostileProxy.start({ target: { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port }, plan, seed });
  const client = net.createConnection({ host: '127.0.0.1', port: proxy.port });
  client.setNoDelay(true);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  // The proxy opens its broker connection when the client connects.
  const broker = await accepted;
  broker.setNoDelay(true);
  const r: Rig = {
    proxy,
    client,
    broker,
    atBroker: new Recorder(broker),
    atClient: new Recorder(client),
    close: async () => {
      client.destroy();
      broker.destroy();
      await proxy.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return r;
}

/** Writes `bytes` in pieces of the given sizes (cycled), yielding to the event loop between them. */
async function writeInPieces(socket: net.Socket, bytes: Buffer, sizes: readonly number[]): Promise<void> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    socket.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((r) => setImmediate(r));
  }
}

function sample(): Buffer[] {
  return [
    CONNECT_LIKE,
    encodePublish('a/b', Buffer.from('small')),
    encodePublish('dominion/v1/x', Buffer.alloc(200, 7), { qos: 1, packetId: 513 }), // 2-byte remaining length
    encodePublish('big', Buffer.alloc(20_000, 9), { qos: 1, packetId: 2, mqtt5: true }), // 3-byte remaining length
    PINGREQ,
  ];
}

const payloadsOf = (packets: Buffer[]) =>
  packets.filter((p) => packetType(p) === 3).map((p) => p.subarray(parsePublish(p).restOffset).toString());

test('with no plan every packet passes in order, byte for byte, however TCP chunks it (both directions)', async () => {
  const r = await rig({});
  try {
    const stream = Buffer.concat(sample());
    // Several packets per chunk, then the same stream split mid-header and mid-body.
    r.client.write(stream);
    await writeInPieces(r.client, stream, [1, 2, 3, 7, 150, 5000]);
    await r.atBroker.until('both copies at the broker', (x) => x.bytes.length >= 2 * stream.length);
    assert.deepEqual(r.atBroker.bytes, Buffer.concat([stream, stream]));
    await writeInPieces(r.broker, stream, [3, 1, 4000, 1, 5]);
    r.broker.write(stream);
    await r.atClient.until('both copies at the client', (x) => x.bytes.length >= 2 * stream.length);
    assert.deepEqual(r.atClient.bytes, Buffer.concat([stream, stream]));
    assert.equal(r.proxy.counters.toBroker.packets, 10);
    assert.equal(r.proxy.counters.toBroker.publishes, 6);
    assert.equal(r.proxy.counters.toClient.written, 10);
  } finally {
    await r.close();
  }
});

test('drop with p = 1 lets no PUBLISH through, passes the rest, and acknowledges QoS 1 on the broker’s behalf', async () => {
  const r = await rig({ toBroker: { drop: 1 } });
  try {
    const publishes = Array.from({ length: 10 }, (_, i) => encodePublish('t', Buffer.from(`m${i}`), { qos: 1, packetId: i + 1 }));
    r.client.write(Buffer.concat([...publishes, encodePublish('t', Buffer.from('q0')), PINGREQ]));
    await r.atBroker.until('the PINGREQ', (x) => x.bytes.length >= PINGREQ.length);
    await r.atClient.until('10 PUBACKs', (x) => x.packets().length >= 10);
    assert.deepEqual(r.atBroker.bytes, PINGREQ, 'only the PINGREQ reached the broker');
    const acks = r.atClient.packets();
    assert.ok(acks.every((p) => packetType(p) === PUBACK));
    assert.deepEqual(
      acks.map((p) => p.readUInt16BE(2)),
      publishes.map((_, i) => i + 1),
    );
    assert.equal(r.proxy.counters.toBroker.dropped, 11);
    assert.equal(r.proxy.counters.toBroker.ackedOnBehalf, 10);
  } finally {
    await r.close();
  }
});

/** Which of 200 QoS 0 publishes pass a 50 % drop with `seed`. */
async function survivors(seed: number): Promise<string[]> {
  const r = await rig({ toBroker: { drop: 0.5 } }, seed);
  try {
    const stream = Buffer.concat([...Array.from({ length: 200 }, (_, i) => encodePublish('t', Buffer.from(String(i)))), PINGREQ]);
    await writeInPieces(r.client, stream, [997, 13]);
    await r.atBroker.until('the PINGREQ', (x) => x.packets().some((p) => packetType(p) === 12));
    return payloadsOf(r.atBroker.packets());
  } finally {
    await r.close();
  }
}

test('the same seed gives the same fate to every PUBLISH; another seed another', async () => {
  const a = await survivors(7);
  const b = await survivors(7);
  const c = await survivors(8);
  assert.deepEqual(a, b);
  assert.ok(a.length > 0 && a.length < 200, `some but not all pass (${a.length})`);
  assert.notDeepEqual(a, c);
  assert.deepEqual(
    a,
    [...a].sort((x, y) => Number(x) - Number(y)),
    'what passes keeps its order',
  );
});

test('injection puts the captured previous message ahead of each new one on matching topics, as a QoS 0 copy', async () => {
  const r = await rig({ toClient: { inject: { topic: replyTopicOf('dev-1') } } });
  try {
    const reply = 'dominion/v1/device/dev-1/reply/device';
    r.broker.write(
      Buffer.concat([
        encodePublish(reply, Buffer.from('A'), { qos: 1, packetId: 1 }),
        encodePublish('dominion/v1/device/dev-2/reply/device', Buffer.from('other device')),
        encodePublish(reply, Buffer.from('B'), { qos: 1, packetId: 2 }),
        encodePublish(reply, Buffer.from('C'), { qos: 1, packetId: 3 }),
      ]),
    );
    await r.atClient.until('six PUBLISHes', (x) => x.packets().length >= 6);
    const packets = r.atClient.packets();
    assert.deepEqual(payloadsOf(packets), ['A', 'other device', 'A', 'B', 'B', 'C']);
    assert.deepEqual(
      packets.map((p) => parsePublish(p).qos),
      [1, 0, 0, 1, 0, 1],
    );
    assert.equal(r.proxy.counters.toClient.injected, 2);
  } finally {
    await r.close();
  }
});

test('a blackhole swallows every packet both ways and keeps the connection; traffic flows again after it', async () => {
  const r = await rig({});
  try {
    r.proxy.blackhole(true);
    r.client.write(Buffer.concat([encodePublish('t', Buffer.from('lost'), { qos: 1, packetId: 9 }), PINGREQ]));
    r.broker.write(encodePublish('t', Buffer.from('lost too')));
    await r.atBroker.until(
      'the proxy to swallow 3 packets',
      () => r.proxy.counters.toBroker.blackholed + r.proxy.counters.toClient.blackholed >= 3,
    );
    r.proxy.blackhole(false);
    r.client.write(encodePublish('t', Buffer.from('after')));
    await r.atBroker.until('the PUBLISH after', (x) => x.packets().length >= 1);
    assert.deepEqual(payloadsOf(r.atBroker.packets()), ['after']);
    assert.equal(r.atClient.bytes.length, 0, 'no PUBACK was made up in the blackhole');
    assert.equal(r.client.destroyed, false);
  } finally {
    await r.close();
  }
});

test('over a real broker: stale injection and duplicates reach an MQTT.js subscriber; dropped publishes still complete', async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  const proxy = await HostileProxy.start({
    target: { host: '127.0.0.1', port: broker.port },
    plan: { toClient: { inject: { topic: replyTopicOf('pi-9') } } },
  });
  const subscriber = connectMqtt(proxy.url);
  const publisher = connectMqtt(proxy.url);
  try {
    await Promise.all([awaitConnected(subscriber), awaitConnected(publisher)]);
    const got: string[] = [];
    const seen = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (got.length < n) return;
          subscriber.off('message', check);
          resolve();
        };
        subscriber.on('message', check);
        check();
      });
    subscriber.on('message', (_t, payload) => got.push(payload.toString()));
    await subscriber.subscribeAsync('dominion/v1/device/pi-9/reply/+', { qos: 1 });
    const topic = 'dominion/v1/device/pi-9/reply/mm';
    for (const m of ['t1', 't2']) await publisher.publishAsync(topic, m, { qos: 1 });
    await seen(3); // t1, then the stale t1 ahead of t2
    // The publisher's PUBLISHes all dropped: each still completes (acknowledged on the broker's behalf).
    proxy.setPlan({ toBroker: { drop: 1 } });
    await publisher.publishAsync(topic, 'never', { qos: 1 });
    proxy.setPlan({ toClient: { duplicate: 1 } });
    await publisher.publishAsync(topic, 'end', { qos: 1 });
    await seen(5);
    assert.deepEqual(got, ['t1', 't1', 't2', 'end', 'end']);
    assert.equal(proxy.counters.toBroker.ackedOnBehalf, 1);
  } finally {
    await Promise.all([subscriber.endAsync(true), publisher.endAsync(true)]);
    await proxy.close();
    await broker.close();
  }
});
