/**
 * The hub's own MQTT session (actors/mqtt/wire/session.ts) against real brokers and a scripted one.
 * Hubs answer every device request through it, so it must interoperate with Mosquitto (MQTT 5 and
 * 3.1.1) and MQTT.js clients, leave its Will to the broker only when it dies, respect the broker's
 * Receive Maximum, be refused cleanly, notice a silent broker, and survive an oversized 3.1.1
 * message. A fake broker on a raw socket covers what a real one will not do on demand: a CONNACK with
 * chosen limits, held PUBACKs, a PINGREQ left unanswered (with mocked time), the bytes of one turn.
 * Every wait is on an event with a deadline that fails the test; nothing sleeps.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  awaitConnected,
  connectMqtt,
  parseBrokerUrl,
  startEmbeddedBroker,
  type BrokerAddress,
  type EmbeddedBroker,
  type MqttClient,
} from '../../actors/mqtt/index.ts';
import { MqttRefusedError, MqttSession, type MqttSessionHooks, type MqttSessionOptions } from '../../actors/mqtt/wire/index.ts';
import { decodePacket, publishSize, writePublish } from '../../actors/mqtt/wire/packets.ts';
import { freePort, haveMosquitto, startMosquitto, type TestMosquitto } from './tls-fixture.ts';
import { messages, nextMessage, within } from './wait.ts';

const MQTT_URL = process.env.MQTT_URL;
/** Topics of this run only: other tests (and runs) share the machine's broker. */
const RUN = `dominion-test/wire/${process.pid}-${randomBytes(4).toString('hex')}`;
const NO_MOSQUITTO = haveMosquitto ? false : 'no /usr/sbin/mosquitto';

// --- helpers ---------------------------------------------------------------------------------------

/** Records what the session reports; `until` waits (with a deadline) for a condition on it. */
class Hooks implements MqttSessionHooks {
  readonly messages: { topic: string; payload: string }[] = [];
  readonly oversizedReports: { topic: string; bytes: number }[] = [];
  readonly closedReasons: string[] = [];
  /** Called with each message after it is recorded (to answer from inside the hook). */
  onMessage: (topic: string, payload: Buffer) => void = () => {};
  private readonly watchers = new Set<() => void>();

  message(topic: string, payload: Buffer): void {
    this.messages.push({ topic, payload: payload.toString() });
    this.onMessage(topic, payload);
    this.changed();
  }

  oversized(topic: string, bytes: number): void {
    this.oversizedReports.push({ topic, bytes });
    this.changed();
  }

  closed(reason: string): void {
    this.closedReasons.push(reason);
    this.changed();
  }

  until(what: string, ready: () => boolean, ms = 10_000): Promise<void> {
    return whenTrue(this.watchers, what, ready, ms);
  }

  private changed(): void {
    for (const w of [...this.watchers]) w();
  }
}

function whenTrue(watchers: Set<() => void>, what: string, ready: () => boolean, ms: number): Promise<void> {
  return within<void>(ms, what, (resolve) => {
    const check = (): void => {
      if (ready()) resolve();
    };
    watchers.add(check);
    check();
    return () => void watchers.delete(check);
  });
}

/** `p`, or a failure naming `what` after `ms`. */
async function deadline<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function options(address: BrokerAddress, v5: boolean, extra: Partial<MqttSessionOptions> = {}): MqttSessionOptions {
  return {
    address,
    v5,
    clientId: `wire-${randomBytes(6).toString('hex')}`,
    keepaliveSeconds: 30,
    maximumPacketSize: 256 * 1024,
    connectTimeoutMs: 5000,
    ...extra,
  };
}

/** A publish as a promise: resolved at its PUBACK (QoS 1), rejected with what `done` reports. */
function publish(
  session: MqttSession,
  topic: string,
  payload: string | Buffer,
  qos: 0 | 1 = 1,
  o: { readonly retain?: boolean; readonly expirySeconds?: number } = {},
): Promise<void> {
  const p = new Promise<void>((resolve, reject) =>
    session.publish(topic, Buffer.from(payload), qos, o.retain ?? false, o.expirySeconds, (err) =>
      err === undefined ? resolve() : reject(err),
    ),
  );
  return deadline(p, `the PUBACK for ${topic}`);
}

/** A private Mosquitto on a free loopback port (anonymous unless told otherwise). */
async function privateMosquitto(lines: readonly string[], anonymous = true): Promise<TestMosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dominion-wire-'));
  const conf = join(dir, 'mosquitto.conf');
  const all = [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${anonymous}`,
    'persistence false',
    'set_tcp_nodelay true',
    'log_dest stderr',
    ...lines,
  ];
  if (process.getuid?.() === 0) all.push('user root');
  writeFileSync(conf, `${all.join('\n')}\n`);
  return startMosquitto(conf, port, { tls: false });
}

async function mqttJs(url: string, protocolVersion: 4 | 5): Promise<MqttClient> {
  const client = connectMqtt(url, { protocolVersion, reconnectPeriodMs: 0 });
  try {
    await awaitConnected(client, 10_000);
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }
  return client;
}

/** Builds a PUBLISH frame as a broker would send it. */
function publishFrame(v5: boolean, qos: 0 | 1, packetId: number, topic: string, payload: Buffer): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const out = Buffer.alloc(publishSize(v5, qos, topicBytes, payload.length, undefined));
  writePublish(out, 0, { v5, qos, retain: false, packetId, topic, topicBytes, payload });
  return out;
}

// --- a scripted broker -----------------------------------------------------------------------------

interface Packet {
  readonly first: number;
  readonly body: Buffer;
}

/** Cuts a byte stream into MQTT frames (a few lines of its own, so the code under test checks nothing here). */
function packetStream(onPacket: (p: Packet) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      let remaining = 0;
      let i = 1;
      for (let mult = 1; ; mult *= 128) {
        if (i >= pending.length) return;
        if (i > 4) throw new Error('remaining length longer than 4 bytes');
        const byte = pending[i++]!;
        remaining += (byte & 0x7f) * mult;
        if ((byte & 0x80) === 0) break;
      }
      if (pending.length < i + remaining) return;
      onPacket({ first: pending[0]!, body: Buffer.from(pending.subarray(i, i + remaining)) });
      pending = pending.subarray(i + remaining);
    }
  };
}

interface FakeOptions {
  /** Sent in answer to CONNECT; none: CONNECT is never answered. */
  readonly connack?: Buffer;
  readonly v5?: boolean;
  /** PUBACK each QoS 1 PUBLISH at once (default); else the test does (`ack`). */
  readonly autoAck?: boolean;
  readonly pingresp?: boolean;
}

interface SeenPublish {
  readonly topic: string;
  readonly qos: number;
  readonly packetId: number;
  readonly payload: string;
}

/** One client at a time; records what it is sent; SUBACKs every SUBSCRIBE. */
class FakeBroker {
  readonly packets: Packet[] = [];
  /** Every byte the client sent, as it came. */
  private readonly raw: Buffer[] = [];
  private connectBytes = 0;
  private socket: net.Socket | undefined;
  private readonly watchers = new Set<() => void>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly o: FakeOptions,
  ) {}

  static async start(o: FakeOptions): Promise<FakeBroker> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const broker = new FakeBroker(server, (server.address() as AddressInfo).port, o);
    server.on('connection', (socket) => broker.accept(socket));
    return broker;
  }

  get address(): BrokerAddress {
    return { host: '127.0.0.1', port: this.port, tls: false };
  }

  /** What the client sent after its CONNECT, byte for byte. */
  afterConnect(): Buffer {
    return Buffer.concat(this.raw).subarray(this.connectBytes);
  }

  publishes(): SeenPublish[] {
    return this.packets
      .filter((p) => p.first >> 4 === 3)
      .map((p) => {
        const qos = (p.first >> 1) & 3;
        const topicLength = p.body.readUInt16BE(0);
        let at = 2 + topicLength;
        const packetId = qos > 0 ? p.body.readUInt16BE(at) : 0;
        if (qos > 0) at += 2;
        if (this.o.v5 === true) at += 1 + p.body[at]!; // property lengths < 128 here
        return { topic: p.body.toString('utf8', 2, 2 + topicLength), qos, packetId, payload: p.body.toString('utf8', at) };
      });
  }

  count(type: number): number {
    return this.packets.filter((p) => p.first >> 4 === type).length;
  }

  send(bytes: Buffer): void {
    assert.ok(this.socket !== undefined, 'a client is connected');
    this.socket.write(bytes);
  }

  ack(packetId: number, code?: number): void {
    this.send(
      Buffer.from(code === undefined ? [0x40, 2, packetId >> 8, packetId & 0xff] : [0x40, 3, packetId >> 8, packetId & 0xff, code]),
    );
  }

  until(what: string, ready: () => boolean, ms = 10_000): Promise<void> {
    return whenTrue(this.watchers, what, ready, ms);
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.socket = socket;
    socket.on('error', () => {});
    const parse = packetStream((p) => {
      this.packets.push(p);
      this.answer(p);
    });
    socket.on('data', (chunk: Buffer) => {
      this.raw.push(chunk);
      try {
        parse(chunk);
      } catch {
        // Not MQTT: the test comparing bytes says so.
      }
      for (const w of [...this.watchers]) w();
    });
  }

  private answer(p: Packet): void {
    const type = p.first >> 4;
    if (type === 1) {
      this.connectBytes = 1 + (p.body.length < 128 ? 1 : 2) + p.body.length;
      if (this.o.connack !== undefined) this.socket!.write(this.o.connack);
    } else if (type === 8) {
      const id = [p.body[0]!, p.body[1]!];
      this.socket!.write(Buffer.from(this.o.v5 === true ? [0x90, 4, ...id, 0, 1] : [0x90, 3, ...id, 1]));
    } else if (type === 3 && ((p.first >> 1) & 3) === 1 && this.o.autoAck !== false) {
      this.ack(p.body.readUInt16BE(2 + p.body.readUInt16BE(0)));
    } else if (type === 12 && this.o.pingresp === true) {
      this.socket!.write(Buffer.from([0xd0, 0]));
    }
  }
}

/** An MQTT 5 CONNACK (success) with these properties. */
function connackV5(...props: number[]): Buffer {
  return Buffer.from([0x20, 3 + props.length, 0, 0, props.length, ...props]);
}
const RECEIVE_MAXIMUM = (n: number): number[] => [0x21, n >> 8, n & 0xff];
const MAXIMUM_PACKET_SIZE = (n: number): number[] => [0x27, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

// --- Mosquitto (MQTT_URL), MQTT 5 and 3.1.1 -------------------------------------------------------------

for (const v5 of [true, false]) {
  const version = v5 ? 5 : 4;
  // Skipped without MQTT_URL, as the other tests on the shared broker are (.ci/run sets it).
  describe(`against Mosquitto at MQTT_URL, MQTT ${v5 ? '5' : '3.1.1'}`, { skip: MQTT_URL === undefined && 'MQTT_URL is not set' }, () => {
    const url = MQTT_URL ?? 'mqtt://127.0.0.1:1883';
    const address = parseBrokerUrl(url);

    it('opens, subscribes, and gets its own QoS 1 publishes back, with and without expiry', async () => {
      const hooks = new Hooks();
      const session = await MqttSession.open(options(address, v5), hooks);
      const topic = `${RUN}/echo-${version}`;
      try {
        assert.equal(session.isOpen, true);
        assert.deepEqual(await deadline(session.subscribe(`${topic}/#`), 'SUBACK'), [1]);
        await Promise.all([
          publish(session, `${topic}/a`, 'plain ü'),
          publish(session, `${topic}/b`, 'expiring', 1, { expirySeconds: 60 }),
          publish(session, `${topic}/c`, Buffer.alloc(70_000, 0x61)),
        ]);
        await publish(session, `${topic}/d`, 'at most once', 0);
        await hooks.until('its four messages back', () => hooks.messages.length >= 4);
        assert.deepEqual(hooks.messages, [
          { topic: `${topic}/a`, payload: 'plain ü' },
          { topic: `${topic}/b`, payload: 'expiring' },
          { topic: `${topic}/c`, payload: 'a'.repeat(70_000) },
          { topic: `${topic}/d`, payload: 'at most once' },
        ]);
        assert.deepEqual(hooks.closedReasons, []);
      } finally {
        await session.close();
      }
      assert.deepEqual(hooks.closedReasons, ['the connection closed'], 'closed once, when the socket closed');
      assert.equal(session.isOpen, false);
      await assert.rejects(publish(session, topic, 'late'), /the connection closed/);
      await assert.rejects(session.subscribe(topic), /the connection closed/);
    });

    it('interoperates with an MQTT.js client both ways (expiry included on MQTT 5)', async () => {
      const toSession = `${RUN}/to-session-${version}`;
      const toClient = `${RUN}/to-client-${version}`;
      const hooks = new Hooks();
      const client = await mqttJs(url, version);
      let session: MqttSession | undefined;
      try {
        await client.subscribeAsync(toClient, { qos: 1 });
        session = await MqttSession.open(options(address, v5), hooks);
        await deadline(session.subscribe(toSession), 'SUBACK');
        await client.publishAsync(toSession, 'from MQTT.js ü', { qos: 1 });
        await hooks.until("MQTT.js's message", () => hooks.messages.length === 1);
        assert.deepEqual(hooks.messages, [{ topic: toSession, payload: 'from MQTT.js ü' }]);

        const got = messages(client, "the session's two publishes", 2, (m) => m.topic === toClient);
        await publish(session, toClient, 'plain');
        await publish(session, toClient, 'expiring', 1, { expirySeconds: 120 });
        const [plain, expiring] = await got;
        assert.equal(plain!.payload.toString(), 'plain');
        assert.equal(expiring!.payload.toString(), 'expiring');
        assert.equal(plain!.packet.qos, 1);
        assert.equal(plain!.packet.properties?.messageExpiryInterval, undefined);
        if (v5) {
          const left = expiring!.packet.properties?.messageExpiryInterval;
          assert.ok(left !== undefined && left > 0 && left <= 120, `expiry ${String(left)} s left`);
        } else assert.equal(expiring!.packet.properties, undefined, 'no properties on 3.1.1');
      } finally {
        await session?.close();
        await client.endAsync(true);
      }
    });

    it('publishes retained messages', async () => {
      const topic = `${RUN}/retained-${version}`;
      const session = await MqttSession.open(options(address, v5), new Hooks());
      let client: MqttClient | undefined;
      try {
        await publish(session, topic, 'kept', 1, { retain: true });
        client = await mqttJs(url, version);
        const got = nextMessage(client, 'the retained message', (m) => m.topic === topic);
        await client.subscribeAsync(topic, { qos: 1 });
        const m = await got;
        assert.equal(m.payload.toString(), 'kept');
        assert.equal(m.packet.retain, true);
      } finally {
        if (session.isOpen) await publish(session, topic, '', 1, { retain: true }); // clears it
        await session.close();
        await client?.endAsync(true);
      }
    });

    it('the broker publishes its Will when the session is destroyed, and not when it is closed', async () => {
      const willTopic = `${RUN}/will-${version}`;
      const will = (payload: string): MqttSessionOptions['will'] => ({
        topic: willTopic,
        payload: Buffer.from(payload),
        qos: 1,
        retain: false,
      });
      const watcher = await mqttJs(url, version);
      const sessions: MqttSession[] = [];
      try {
        await watcher.subscribeAsync(willTopic, { qos: 1 });

        const destroyedHooks = new Hooks();
        const destroyed = await MqttSession.open(options(address, v5, { will: will('gone: destroyed') }), destroyedHooks);
        sessions.push(destroyed);
        const willArrives = nextMessage(watcher, 'the Will of the destroyed session', (m) => m.topic === willTopic);
        destroyed.destroy('test: pulled the plug');
        assert.equal(destroyed.isOpen, false);
        assert.deepEqual(destroyedHooks.closedReasons, ['test: pulled the plug']);
        assert.equal((await willArrives).payload.toString(), 'gone: destroyed');

        // Once close() has resolved, the broker has read our DISCONNECT and closed its end: had it
        // published the Will, it would be queued to the watcher ahead of a marker published now.
        const closedHooks = new Hooks();
        const closed = await MqttSession.open(options(address, v5, { will: will('gone: closed') }), closedHooks);
        sessions.push(closed);
        const seen: string[] = [];
        const markerArrives = within<void>(10_000, 'the marker published after close', (resolve) => {
          const onMessage = (topic: string, payload: Buffer): void => {
            if (topic !== willTopic) return;
            seen.push(payload.toString());
            if (payload.toString() === 'marker') resolve();
          };
          watcher.on('message', onMessage);
          return () => void watcher.off('message', onMessage);
        });
        await closed.close();
        await watcher.publishAsync(willTopic, 'marker', { qos: 1 });
        await markerArrives;
        assert.deepEqual(seen, ['marker'], 'no Will after a clean close');
        assert.deepEqual(closedHooks.closedReasons, ['the connection closed']);
        assert.deepEqual(destroyedHooks.closedReasons, ['test: pulled the plug'], 'still called once');
      } finally {
        for (const s of sessions) await s.close();
        await watcher.endAsync(true);
      }
    });
  });
}

// --- the broker's Receive Maximum, on a private Mosquitto -------------------------------------------

/**
 * A TCP relay that counts, as it forwards, the QoS 1 PUBLISHes the client sends and the PUBACKs the
 * broker returns: the most ever unacknowledged is an upper bound the session must keep within.
 */
class CountingProxy {
  publishes = 0;
  pubacks = 0;
  mostUnacknowledged = 0;
  receiveMaximum: number | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: number): Promise<CountingProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new CountingProxy(server, (server.address() as AddressInfo).port);
    server.on('connection', (client) => proxy.relay(client, target));
    return proxy;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: net.Socket, target: number): void {
    const broker = net.connect(target, '127.0.0.1');
    for (const s of [client, broker]) {
      this.sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        broker.destroy();
      });
    }
    const up = packetStream((p) => {
      if (p.first >> 4 === 3 && ((p.first >> 1) & 3) === 1) {
        this.publishes++;
        this.mostUnacknowledged = Math.max(this.mostUnacknowledged, this.publishes - this.pubacks);
      }
    });
    const down = packetStream((p) => {
      if (p.first >> 4 === 4) this.pubacks++;
      if (p.first >> 4 === 2) {
        const connack = decodePacket(p.first, p.body, 0, p.body.length, true);
        if (connack.type === 2) this.receiveMaximum = connack.receiveMaximum;
      }
    });
    // Counted before forwarding: a PUBLISH is counted before its PUBACK can exist.
    client.on('data', (chunk: Buffer) => {
      up(chunk);
      broker.write(chunk);
    });
    broker.on('data', (chunk: Buffer) => {
      down(chunk);
      client.write(chunk);
    });
  }
}

describe('Receive Maximum, on a private Mosquitto with max_inflight_messages 2', { skip: NO_MOSQUITTO }, () => {
  it('50 QoS 1 publishes at once: all acknowledged, all delivered in order, never more than 2 unacknowledged', async () => {
    const COUNT = 50;
    const topic = `${RUN}/receive-maximum`;
    const mosquitto = await privateMosquitto(['max_inflight_messages 2']);
    let proxy: CountingProxy | undefined;
    let subscriber: MqttClient | undefined;
    let session: MqttSession | undefined;
    try {
      proxy = await CountingProxy.start(parseBrokerUrl(mosquitto.url).port);
      subscriber = await mqttJs(mosquitto.url, 5);
      await subscriber.subscribeAsync(topic, { qos: 1 });
      session = await MqttSession.open(options({ host: '127.0.0.1', port: proxy.port, tls: false }, true), new Hooks());
      assert.equal(proxy.receiveMaximum, 2, "Mosquitto's CONNACK carries Receive Maximum 2");

      const arrived = messages(subscriber, 'the 50 messages', COUNT, (m) => m.topic === topic, 30_000);
      const acknowledged: number[] = [];
      const failures: Error[] = [];
      const s = session;
      await within<void>(
        30_000,
        () => `${COUNT} done callbacks (got ${acknowledged.length + failures.length})`,
        (resolve) => {
          for (let i = 0; i < COUNT; i++) {
            s.publish(topic, Buffer.from(`m-${i}`), 1, false, undefined, (err) => {
              if (err === undefined) acknowledged.push(i);
              else failures.push(err);
              if (acknowledged.length + failures.length === COUNT) resolve();
            });
          }
        },
      );
      assert.deepEqual(failures, []);
      assert.deepEqual(acknowledged, [...Array(COUNT).keys()], 'acknowledged in the order sent');
      const got = await arrived;
      assert.deepEqual(
        got.map((m) => m.payload.toString()),
        [...Array(COUNT).keys()].map((i) => `m-${i}`),
      );
      assert.equal(proxy.publishes, COUNT);
      assert.equal(proxy.pubacks, COUNT);
      assert.ok(proxy.mostUnacknowledged >= 1 && proxy.mostUnacknowledged <= 2, `at most ${proxy.mostUnacknowledged} unacknowledged`);
    } finally {
      await session?.close();
      await subscriber?.endAsync(true);
      await proxy?.close();
      await mosquitto.stop();
    }
  });
});

// --- a refused CONNECT -----------------------------------------------------------------------------------

describe('a broker that refuses the CONNECT', { skip: NO_MOSQUITTO }, () => {
  it('open rejects with MqttRefusedError (Not authorized: 135 on MQTT 5, 5 on 3.1.1); the right user gets in', async () => {
    const passwd = join(mkdtempSync(join(tmpdir(), 'dominion-wire-auth-')), 'passwd');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'hub-test', 'correct horse']);
    const mosquitto = await privateMosquitto([`password_file ${passwd}`], false);
    try {
      const address = parseBrokerUrl(mosquitto.url);
      for (const v5 of [true, false]) {
        const hooks = new Hooks();
        await assert.rejects(MqttSession.open(options(address, v5), hooks), (e: unknown) => {
          assert.ok(e instanceof MqttRefusedError, `a MqttRefusedError, not ${String(e)}`);
          assert.match(e.message, /Connection refused: .*\(code (5|135)\)/);
          assert.equal(e.code, v5 ? 135 : 5);
          return true;
        });
        assert.deepEqual(hooks.closedReasons, [], '`closed` is for sessions that were open');
      }
      for (const v5 of [true, false]) {
        const session = await MqttSession.open(
          options(address, v5, { username: 'hub-test', password: Buffer.from('correct horse') }),
          new Hooks(),
        );
        try {
          assert.equal(session.isOpen, true);
        } finally {
          await session.close();
        }
      }
    } finally {
      await mosquitto.stop();
    }
  });
});

// --- oversized on MQTT 3.1.1, over Aedes ------------------------------------------------------------

describe('an oversized message on MQTT 3.1.1 (the embedded Aedes broker)', () => {
  it('is reported once and acknowledged; the next message comes through and the session stays open', async () => {
    const topic = `${RUN}/oversized`;
    const BIG = 200 * 1024;
    let broker: EmbeddedBroker | undefined;
    let session: MqttSession | undefined;
    let client: MqttClient | undefined;
    try {
      broker = await startEmbeddedBroker();
      const hooks = new Hooks();
      session = await MqttSession.open(options(parseBrokerUrl(broker.url), false, { maximumPacketSize: 1024 }), hooks);
      assert.deepEqual(await deadline(session.subscribe(`${topic}/#`), 'SUBACK'), [1]);
      client = await mqttJs(broker.url, 4);
      await client.publishAsync(`${topic}/big`, Buffer.alloc(BIG, 0x62), { qos: 1 });
      await client.publishAsync(`${topic}/small`, 'small', { qos: 1 });
      await hooks.until('the small message after the big one', () => hooks.messages.length >= 1);
      assert.deepEqual(hooks.oversizedReports, [
        { topic: `${topic}/big`, bytes: publishSize(false, 1, Buffer.byteLength(`${topic}/big`), BIG, undefined) },
      ]);
      assert.deepEqual(hooks.messages, [{ topic: `${topic}/small`, payload: 'small' }]);
      // Still a working session: a round trip through the broker.
      await publish(session, `${topic}/again`, 'still here');
      await hooks.until('its own message back', () => hooks.messages.length >= 2);
      assert.deepEqual(hooks.messages[1], { topic: `${topic}/again`, payload: 'still here' });
      assert.equal(session.isOpen, true);
      assert.deepEqual(hooks.closedReasons, []);
      assert.deepEqual(hooks.oversizedReports.length, 1);
    } finally {
      await session?.close();
      await client?.endAsync(true);
      await broker?.close();
    }
  });
});

// --- keep-alive, against a broker that never answers PINGREQ ------------------------------------------

/** Moves mocked time in the session's own check interval (a quarter of 1 s), so each check sees its time. */
function advance(t: TestContext, ms: number): void {
  for (let i = 0; i < ms; i += 250) t.mock.timers.tick(250);
}

describe('keep-alive (1 s, with mocked time)', () => {
  it('ends the connection when no PINGRESP comes within half the period', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'] }); // now = 0; sockets and setImmediate stay real
    const broker = await FakeBroker.start({ connack: connackV5(), v5: true });
    const hooks = new Hooks();
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 1 }), hooks);
      advance(t, 750);
      // A round trip: any PINGREQ written before the SUBSCRIBE would reach the broker before it.
      await deadline(session.subscribe('probe'), 'SUBACK');
      assert.equal(broker.count(12), 0, 'no PINGREQ within the period');
      // The SUBSCRIBE was the last write (at 750 ms): the PINGREQ is due a period later.
      advance(t, 1000);
      await broker.until('a PINGREQ once the connection was quiet for 1 s', () => broker.count(12) === 1);
      advance(t, 500); // half a period after it: not yet late
      assert.equal(session.isOpen, true);
      assert.deepEqual(hooks.closedReasons, []);
      advance(t, 250);
      assert.equal(session.isOpen, false);
      assert.equal(hooks.closedReasons.length, 1);
      assert.match(hooks.closedReasons[0]!, /PINGRESP/);
    } finally {
      await session?.close();
      await broker.close();
    }
  });

  it('stays open while PINGRESPs come', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
    const broker = await FakeBroker.start({ connack: connackV5(), v5: true, pingresp: true });
    const hooks = new Hooks();
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 1 }), hooks);
      for (let n = 1; n <= 3; n++) {
        advance(t, 1000);
        await broker.until(`PINGREQ ${n}`, () => broker.count(12) === n);
        // After the PINGRESP, a message: once it is in, the PINGRESP before it has been read.
        broker.send(publishFrame(true, 0, 0, 'marker', Buffer.from(String(n))));
        await hooks.until(`marker ${n}`, () => hooks.messages.length === n);
      }
      advance(t, 750);
      assert.equal(session.isOpen, true);
      assert.deepEqual(hooks.closedReasons, []);
    } finally {
      await session?.close();
      await broker.close();
    }
  });
});

// --- a scripted broker: what a real one does not do on demand ------------------------------------------

describe('against a scripted broker', () => {
  it("writes all of one event-loop turn's packets in one socket write, in order", async () => {
    const broker = await FakeBroker.start({ connack: connackV5(), v5: true });
    const writes: number[] = [];
    const own = Object.hasOwn(net.Socket.prototype, 'write');
    const original = net.Socket.prototype.write;
    net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]): boolean {
      if (this.remotePort === broker.port) writes.push(Buffer.isBuffer(args[0]) ? args[0].length : -1);
      return (original as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof original;
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 0 }), new Hooks());
      assert.equal(writes.length, 1, 'the CONNECT');
      const s = session;
      const pending: Promise<unknown>[] = [deadline(s.subscribe('a/#'), 'SUBACK')];
      for (let i = 0; i < 10; i++) pending.push(publish(s, `q0/${i}`, `zero ${i}`, 0));
      await Promise.resolve(); // a microtask later: still the same turn
      for (let i = 0; i < 3; i++) pending.push(publish(s, `q1/${i}`, `one ${i}`, 1));
      await Promise.resolve();
      // Three 20 KB messages: more than one 32 KB buffer's worth in the same turn.
      for (let i = 0; i < 3; i++) pending.push(publish(s, `big/${i}`, Buffer.alloc(20_000, 0x30 + i), 0));
      await Promise.all(pending);
      await broker.until('all 17 packets', () => broker.packets.length === 1 + 17);
      assert.equal(writes.length, 2, `one write for the turn (writes: ${writes.join(', ')})`);
      assert.deepEqual(
        broker.publishes().map((p) => [p.topic, p.qos, p.payload.length]),
        [
          ...[...Array(10).keys()].map((i) => [`q0/${i}`, 0, `zero ${i}`.length]),
          ...[...Array(3).keys()].map((i) => [`q1/${i}`, 1, `one ${i}`.length]),
          ...[...Array(3).keys()].map((i) => [`big/${i}`, 0, 20_000]),
        ],
      );
      assert.deepEqual(
        broker
          .publishes()
          .slice(13)
          .map((p) => p.payload),
        [0, 1, 2].map((i) => String.fromCharCode(0x30 + i).repeat(20_000)),
      );
    } finally {
      if (own) net.Socket.prototype.write = original;
      else delete (net.Socket.prototype as Partial<net.Socket>).write;
      await session?.close();
      await broker.close();
    }
  });

  it('3.1.1: a PUBLISH over our limit is reported and, at QoS 1 only, acknowledged; the next comes through', async () => {
    const broker = await FakeBroker.start({ connack: Buffer.from([0x20, 2, 0, 0]), v5: false });
    const hooks = new Hooks();
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, false, { keepaliveSeconds: 0, maximumPacketSize: 1024 }), hooks);
      const big = publishFrame(false, 1, 9, 'big/1', Buffer.alloc(5000, 1));
      const big0 = publishFrame(false, 0, 0, 'big/0', Buffer.alloc(3000, 2));
      broker.send(Buffer.concat([big, big0, publishFrame(false, 1, 10, 'small', Buffer.from('x'))]));
      await hooks.until('the small message', () => hooks.messages.length === 1);
      assert.deepEqual(hooks.oversizedReports, [
        { topic: 'big/1', bytes: big.length },
        { topic: 'big/0', bytes: big0.length },
      ]);
      assert.deepEqual(hooks.messages, [{ topic: 'small', payload: 'x' }]);
      await broker.until('the PUBACK for the small one', () => broker.count(4) === 2);
      const pubacks = broker.packets.filter((p) => p.first === 0x40).map((p) => p.body.toString('hex'));
      assert.deepEqual(pubacks, ['0009', '000a'], 'the big QoS 1 one acknowledged, the QoS 0 one not');
      assert.equal(session.isOpen, true);
    } finally {
      await session?.close();
      await broker.close();
    }
  });

  it('QoS 1 beyond the Receive Maximum waits, in order, bounded by maxQueued', async () => {
    const broker = await FakeBroker.start({ connack: connackV5(...RECEIVE_MAXIMUM(1)), v5: true, autoAck: false });
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 0, maxQueued: 2 }), new Hooks());
      const s = session;
      const done: string[] = [];
      const results = ['p1', 'p2', 'p3', 'p4'].map(
        (name) =>
          new Promise<void>((resolve) =>
            s.publish('rm', Buffer.from(name), 1, false, undefined, (err) => {
              done.push(err === undefined ? name : `${name}: ${err.message}`);
              resolve();
            }),
          ),
      );
      assert.deepEqual(done, ['p4: more than 2 publishes wait on the broker'], 'the one beyond the queue fails at once');
      for (const [i, name] of ['p1', 'p2', 'p3'].entries()) {
        await broker.until(`${name} sent`, () => broker.publishes().length === i + 1);
        // A round trip: had the next one been sent with it, it would be in before the SUBACK.
        await deadline(s.subscribe('probe'), 'SUBACK');
        assert.deepEqual(
          broker.publishes().map((p) => p.payload),
          ['p1', 'p2', 'p3'].slice(0, i + 1),
          'one in flight at a time',
        );
        broker.ack(broker.publishes()[i]!.packetId);
      }
      await deadline(Promise.all(results), 'every done callback');
      assert.deepEqual(done, ['p4: more than 2 publishes wait on the broker', 'p1', 'p2', 'p3']);
    } finally {
      await session?.close();
      await broker.close();
    }
  });

  it('a PUBACK with a failure reason code fails that publish only', async () => {
    const broker = await FakeBroker.start({ connack: connackV5(), v5: true, autoAck: false });
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 0 }), new Hooks());
      const refused = publish(session, 'x', 'no', 1);
      const accepted = publish(session, 'y', 'yes', 1);
      await broker.until('both publishes', () => broker.publishes().length === 2);
      const [x, y] = broker.publishes();
      broker.ack(x!.packetId, 0x87);
      broker.ack(y!.packetId, 0x10); // "no matching subscribers": a success
      await assert.rejects(refused, /refused the publish \(reason code 135\)/);
      await accepted;
      assert.equal(session.isOpen, true);
    } finally {
      await session?.close();
      await broker.close();
    }
  });

  it("a broker's DISCONNECT ends the session: `closed` once with its reason, in-flight publishes failed", async () => {
    const broker = await FakeBroker.start({ connack: connackV5(), v5: true, autoAck: false });
    const hooks = new Hooks();
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 0 }), hooks);
      const inFlight = publish(session, 'x', 'never acknowledged', 1);
      await broker.until('the publish', () => broker.publishes().length === 1);
      const reason = Buffer.from('shutting down');
      broker.send(Buffer.from([0xe0, 2 + 3 + reason.length, 0x8b, 3 + reason.length, 0x1f, 0, reason.length, ...reason]));
      await assert.rejects(inFlight, /the connection to the broker ended: the broker sent DISCONNECT/);
      await hooks.until('closed', () => hooks.closedReasons.length > 0);
      assert.deepEqual(hooks.closedReasons, ['the broker sent DISCONNECT (reason code 139: shutting down)']);
      assert.equal(session.isOpen, false);
      await assert.rejects(publish(session, 'x', 'late'), /DISCONNECT/);
    } finally {
      await session?.close();
      await broker.close();
    }
    assert.equal(hooks.closedReasons.length, 1, 'once, even after close()');
  });

  it('open rejects when no CONNACK comes in time, or nothing listens', async () => {
    const broker = await FakeBroker.start({});
    try {
      await assert.rejects(
        MqttSession.open(options(broker.address, true, { connectTimeoutMs: 300 }), new Hooks()),
        /no CONNACK within 300 ms/,
      );
    } finally {
      await broker.close();
    }
    await assert.rejects(
      MqttSession.open(options({ host: '127.0.0.1', port: await freePort(), tls: false }, true), new Hooks()),
      /ECONNREFUSED/,
    );
  });

  it("a QoS 0 publish over the broker's Maximum Packet Size: `done` once, with the error, and nothing sent", async () => {
    const broker = await FakeBroker.start({ connack: connackV5(...MAXIMUM_PACKET_SIZE(100)), v5: true });
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 0 }), new Hooks());
      for (const qos of [1, 0] as const) {
        const calls: (string | undefined)[] = [];
        session.publish('big', Buffer.alloc(200), qos, false, undefined, (err) => calls.push(err?.message));
        const size = publishSize(true, qos, 3, 200, undefined);
        assert.deepEqual(calls, [`a ${size}-byte packet exceeds the broker's Maximum Packet Size 100`], `QoS ${qos}`);
      }
      await deadline(session.subscribe('probe'), 'SUBACK');
      assert.equal(broker.publishes().length, 0);
    } finally {
      await session?.close();
      await broker.close();
    }
  });

  it('a queued publish too large for the broker does not strand the ones queued behind it (order kept)', async () => {
    const broker = await FakeBroker.start({ connack: connackV5(...RECEIVE_MAXIMUM(1), ...MAXIMUM_PACKET_SIZE(100)), v5: true });
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 0 }), new Hooks());
      const order: string[] = [];
      const send = (name: string, size = 1): Promise<void> =>
        publish(session!, 'q', name.padEnd(size, '.'), 1).then(
          () => void order.push(name),
          (err: Error) => void order.push(`${name}: ${err.message}`),
        );
      const a = send('a');
      const big = send('big', 200);
      const c = send('c');
      await Promise.all([a, big]);
      const d = send('d');
      await Promise.all([c, d]);
      assert.deepEqual(
        broker.publishes().map((p) => p.payload),
        ['a', 'c', 'd'],
        'sent in the order published',
      );
      assert.deepEqual(order.slice(2), ['c', 'd']);
    } finally {
      await session?.close();
      await broker.close();
    }
  });

  it('a PUBACK queued when the turn has just filled its 32 KB buffer is sent intact, after the reply before it', async () => {
    const CHUNK = 32 * 1024; // session.ts CHUNK_BYTES
    const broker = await FakeBroker.start({ connack: connackV5(), v5: true });
    const hooks = new Hooks();
    let session: MqttSession | undefined;
    try {
      session = await MqttSession.open(options(broker.address, true, { keepaliveSeconds: 0 }), hooks);
      // A reply from inside the message hook that fills the turn's buffer exactly: the PUBACK for the
      // request (written after the hook returns) needs a new buffer.
      let payloadBytes = CHUNK - 16;
      while (publishSize(true, 0, 1, payloadBytes, undefined) < CHUNK) payloadBytes++;
      assert.equal(publishSize(true, 0, 1, payloadBytes, undefined), CHUNK);
      const reply = Buffer.alloc(payloadBytes, 0x72);
      const s = session;
      hooks.onMessage = (topic) => {
        if (topic === 'request') s.publish('r', reply, 0, false, undefined, () => {});
      };
      broker.send(publishFrame(true, 1, 7, 'request', Buffer.from('?')));
      const expected = Buffer.concat([publishFrame(true, 0, 0, 'r', reply), Buffer.from([0x40, 2, 0, 7])]);
      await broker.until('the reply and the PUBACK', () => broker.afterConnect().length >= expected.length);
      const got = broker.afterConnect();
      assert.ok(got.equals(expected), `the broker got ${got.subarray(0, 8).toString('hex')}… ${got.subarray(-8).toString('hex')}`);
    } finally {
      await session?.close();
      await broker.close();
    }
  });
});
