/**
 * A hub process on several brokers (docs/ARCHITECTURE.md §7, "Several brokers"), on two private
 * Mosquitto processes: requests on either are answered on the broker they came on; two workers of
 * one hub id split each broker's load; a broker killed (SIGKILL) leaves the worker online on the
 * other, and it comes back when that broker does (same port). Every wait has a deadline.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { bytesEqual, hex } from '../../actors/crypto/index.ts';
import { awaitConnected, connectMqtt, toBuffer } from '../../actors/mqtt/index.ts';
import { HubServer, parseHubStatus, processStatusTopic, type HubStatus } from '../../actors/hub/index.ts';
import { topics } from '../../proto/index.ts';
import { messages, nextMessage, within, type Received } from '../mqtt/wait.ts';
import { freePort, haveMosquitto, startMosquitto, type TestMosquitto } from '../mqtt/tls-fixture.ts';
import { dominion, ihHubArgs } from './child.ts';
import {
  deviceRuntime,
  ihDatabaseFile,
  ihFixture,
  openReply,
  signedRequest,
  uniqueId,
  type DeviceKeys,
  type HubFixture,
} from './fixtures.ts';

/** A private, anonymous, loopback-only Mosquitto on `port` (restartable on the same port). */
class Broker {
  private running: TestMosquitto | undefined;
  private constructor(
    readonly port: number,
    private readonly conf: string,
  ) {}

  static async start(): Promise<Broker> {
    const port = await freePort();
    const conf = join(mkdtempSync(join(tmpdir(), 'dominion-shard-')), 'mosquitto.conf');
    const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'set_tcp_nodelay true', 'persistence false', 'log_dest stderr'];
    if (process.getuid?.() === 0) lines.push('user root');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    const broker = new Broker(port, conf);
    await broker.restart();
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    this.running = await startMosquitto(this.conf, this.port, { tls: false });
  }

  /** SIGKILL: no DISCONNECT to anyone, the way a broker host dies. */
  async kill(): Promise<void> {
    const m = this.running;
    this.running = undefined;
    if (m === undefined) return;
    process.kill(m.pid, 'SIGKILL');
    await m.stop(); // resolves on its exit
  }

  stop(): Promise<void> {
    return this.running?.stop() ?? Promise.resolve();
  }
}

type Fx = HubFixture & { dev: DeviceKeys };

async function fakeDevice(url: string, deviceId: string): Promise<MqttClient> {
  const client = connectMqtt(url, { protocolVersion: 5, clientId: uniqueId(`dev-${deviceId}`) });
  await awaitConnected(client);
  await client.subscribeAsync(topics.replySubscription(deviceId), { qos: 1 });
  return client;
}

/** Publishes a signed request from `device` and returns the reply echoing its nonce, and the nonce. */
async function ask(device: MqttClient, hubId: string, fx: Fx): Promise<{ reply: Received; nonce: Uint8Array }> {
  const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
  const reply = nextMessage(
    device,
    'ticket reply',
    (m) => m.topic === topics.reply(fx.dev.deviceId, 'device') && bytesEqual(openReply(m.payload, fx.hub.publicKey).nonce, req.nonce),
    10_000,
  );
  await device.publishAsync(topics.hubRequest(hubId, fx.dev.deviceId), toBuffer(req.bytes), { qos: 1 });
  return { reply: await reply, nonce: req.nonce };
}

function nonceOf(m: Received, fx: Fx): string {
  return hex(openReply(m.payload, fx.hub.publicKey).nonce);
}

/** The next status `observer` (subscribed to the hub's `status/#`) sees that satisfies `want`. */
function statusWhere(observer: MqttClient, what: string, want: (s: HubStatus) => boolean): Promise<HubStatus> {
  return nextMessage(observer, what, (m) => {
    const s = parseHubStatus(m.payload);
    return s !== undefined && want(s);
  }).then((m) => parseHubStatus(m.payload)!);
}

function event<T>(what: string, on: (resolve: (value: T) => void) => () => void): Promise<T> {
  return within<T>(15_000, what, on);
}

describe('a hub process on two Mosquitto brokers', { skip: haveMosquitto ? false : 'mosquitto is not installed' }, () => {
  let b1: Broker;
  let b2: Broker;
  before(async () => {
    [b1, b2] = await Promise.all([Broker.start(), Broker.start()]);
  });
  after(async () => {
    await Promise.all([b1?.stop(), b2?.stop()]);
  });

  it('answers requests arriving on either broker, each on the broker it came on; its status lists both', async () => {
    const fx = ihFixture();
    const hubId = uniqueId('ih');
    const hub = await HubServer.start({ core: fx.core, brokers: [b1.url, b2.url], hubId });
    const [d1, d2] = await Promise.all([fakeDevice(b1.url, fx.dev.deviceId), fakeDevice(b2.url, fx.dev.deviceId)]);
    const seenOn2: string[] = [];
    d2.on('message', (topic, payload) => {
      if (topic === topics.reply(fx.dev.deviceId, 'device')) seenOn2.push(hex(openReply(payload, fx.hub.publicKey).nonce));
    });
    try {
      const st = hub.status();
      assert.equal(st.online, true);
      assert.deepEqual(
        st.brokers?.map((b) => [b.url, b.online, b.subscription, b.protocol]),
        [
          [b1.url, true, 'shared', 5],
          [b2.url, true, 'shared', 5],
        ],
      );
      assert.equal(hub.subscription, `$share/${hubId}/${topics.hubRequestBase(hubId)}/+`);

      const first = await ask(d1, hubId, fx);
      assert.equal(openReply(first.reply.payload, fx.hub.publicKey).outcome.case, 'ticket');
      const second = await ask(d2, hubId, fx);
      assert.equal(openReply(second.reply.payload, fx.hub.publicKey).outcome.case, 'ticket');
      // One connection carries replies in order: had the first reply gone out on broker 2, d2 would have seen it before the second.
      assert.deepEqual(seenOn2, [hex(second.nonce)], 'broker 2 carried only the reply to its own request');
      assert.equal(hub.stats().received, 2);

      // Each broker holds the process's retained status (per process: a shared subscription), listing both brokers.
      const observer = connectMqtt(b2.url);
      try {
        await awaitConnected(observer);
        const got = statusWhere(observer, 'retained status on broker 2', (s) => s.online);
        await observer.subscribeAsync(processStatusTopic(hubId, st.clientId), { qos: 1 });
        assert.deepEqual(
          (await got).brokers?.map((b) => b.online),
          [true, true],
        );
      } finally {
        await observer.endAsync(true);
      }
    } finally {
      await Promise.all([d1.endAsync(true), d2.endAsync(true)]);
      await hub.stop();
    }
  });

  it('two workers of one hub id on both brokers split the load; every request is answered exactly once', async () => {
    const fx = ihFixture();
    const hubId = uniqueId('ih');
    const [a, b] = await Promise.all([
      HubServer.start({ core: fx.core, brokers: [b1.url, b2.url], hubId }),
      HubServer.start({ core: fx.core, brokers: [b2.url, b1.url], hubId }),
    ]);
    const [d1, d2] = await Promise.all([fakeDevice(b1.url, fx.dev.deviceId), fakeDevice(b2.url, fx.dev.deviceId)]);
    try {
      const n = 20;
      const isReply = (m: Received): boolean => m.topic === topics.reply(fx.dev.deviceId, 'device');
      const [on1, on2] = [messages(d1, 'replies on broker 1', n, isReply), messages(d2, 'replies on broker 2', n, isReply)];
      const sent = new Set<string>();
      for (let i = 0; i < n; i++)
        for (const device of [d1, d2]) {
          const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
          sent.add(hex(req.nonce));
          await device.publishAsync(topics.hubRequest(hubId, fx.dev.deviceId), toBuffer(req.bytes), { qos: 1 });
        }
      const replies = [...(await on1), ...(await on2)].map((m) => nonceOf(m, fx));
      assert.equal(new Set(replies).size, 2 * n, 'every reply answers a different request');
      assert.deepEqual(new Set(replies), sent);
      const [ra, rb] = [a.stats().received, b.stats().received];
      assert.equal(ra + rb, 2 * n, `each request handled once (a=${ra}, b=${rb})`);
      assert.ok(ra > 0 && rb > 0, `both workers got work (a=${ra}, b=${rb})`);
    } finally {
      await Promise.all([d1.endAsync(true), d2.endAsync(true)]);
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('a broker killed leaves the worker online on the other and answering there; it reconnects when the broker returns', async () => {
    const fx = ihFixture();
    const hubId = uniqueId('ih');
    const hub = await HubServer.start({ core: fx.core, brokers: [b1.url, b2.url], hubId, reconnectPeriodMs: 50 });
    const d1 = await fakeDevice(b1.url, fx.dev.deviceId);
    const observer = connectMqtt(b1.url);
    let d2: MqttClient | undefined;
    let offline = 0;
    const offOffline = hub.on('offline', () => void offline++);
    try {
      await awaitConnected(observer);
      await observer.subscribeAsync(`${topics.hubStatus(hubId)}/#`, { qos: 1 });
      const lost = event<string>('broker 2 lost', (resolve) =>
        hub.on('disconnected', (_reason, broker) => {
          if (broker === b2.url) resolve(broker);
        }),
      );
      const announced = statusWhere(observer, 'status on broker 1 naming broker 2 down', (s) => s.brokers?.[1]?.online === false);
      await b2.kill();
      await lost;
      const st = await announced;
      assert.equal(st.online, true, 'still online: broker 1 is up');
      assert.equal(st.brokers?.[0]?.online, true);
      assert.equal(typeof st.brokers?.[1]?.problem, 'string', 'says why broker 2 is down');
      assert.equal(hub.online, true);
      assert.equal(offline, 0, 'never offline');

      const r = await ask(d1, hubId, fx); // still answering on broker 1
      assert.equal(openReply(r.reply.payload, fx.hub.publicKey).outcome.case, 'ticket');

      const back = event<void>('broker 2 back', (resolve) =>
        hub.on('connected', (broker) => {
          if (broker === b2.url) resolve();
        }),
      );
      await b2.restart();
      await back;
      assert.deepEqual(
        hub.brokers().map((b) => b.online),
        [true, true],
      );
      d2 = await fakeDevice(b2.url, fx.dev.deviceId);
      const r2 = await ask(d2, hubId, fx);
      assert.equal(openReply(r2.reply.payload, fx.hub.publicKey).outcome.case, 'ticket');
      assert.equal(offline, 0);
    } finally {
      offOffline();
      await Promise.all([d1.endAsync(true), d2?.endAsync(true), observer.endAsync(true)]);
      await hub.stop();
    }
  });

  it('starts with one broker down (names it, keeps trying) and serves it once it is up; all down fails the start', async () => {
    const fx = ihFixture();
    const hubId = uniqueId('ih');
    await b2.kill();
    const hub = await HubServer.start({ core: fx.core, brokers: [b1.url, b2.url], hubId, reconnectPeriodMs: 50, startTimeoutMs: 3000 });
    let d2: MqttClient | undefined;
    try {
      assert.equal(hub.online, true);
      assert.deepEqual(
        hub.startProblems.map((p) => p.url),
        [b2.url],
      );
      assert.deepEqual(
        hub.brokers().map((b) => b.online),
        [true, false],
      );
      const up = event<void>('broker 2 up', (resolve) =>
        hub.on('connected', (broker) => {
          if (broker === b2.url) resolve();
        }),
      );
      await b2.restart();
      await up;
      assert.deepEqual(
        hub.brokers().map((b) => [b.online, b.subscription]),
        [
          [true, 'shared'],
          [true, 'shared'],
        ],
      );
      d2 = await fakeDevice(b2.url, fx.dev.deviceId);
      const r = await ask(d2, hubId, fx);
      assert.equal(openReply(r.reply.payload, fx.hub.publicKey).outcome.case, 'ticket');
    } finally {
      await d2?.endAsync(true);
      await hub.stop();
    }

    const [p1, p2] = [await freePort(), await freePort()];
    await assert.rejects(
      HubServer.start({ core: fx.core, brokers: [`mqtt://127.0.0.1:${p1}`, `mqtt://127.0.0.1:${p2}`], hubId, startTimeoutMs: 2000 }),
      (err: Error) => err.message.includes('no broker reachable') && err.message.includes(String(p1)) && err.message.includes(String(p2)),
    );
    await assert.rejects(HubServer.start({ core: fx.core, brokers: [b1.url, b1.url], hubId }), /given twice/);
  });

  it('dominion hub --broker a --broker b: answers on both, logs each broker, and a dead one by its URL', async () => {
    const db = ihDatabaseFile(1);
    const dev = db.devices[0]!;
    const args = ihHubArgs({ hubId: db.hubId, brokerUrl: b1.url, dbPath: db.path, keyPath: db.keyPath, shared: true });
    const hub = dominion([...args, '--broker', b2.url]);
    const device = connectMqtt(b2.url, { protocolVersion: 5, clientId: uniqueId('dev') });
    try {
      await hub.waitFor(/"msg":"ih online: shared subscription/, 'the online line');
      await hub.waitFor(new RegExp(`"msg":"broker up".*"broker":"${b2.url}"`), 'broker 2 up');
      await awaitConnected(device);
      await device.subscribeAsync(topics.replySubscription(dev.deviceId), { qos: 1 });
      const req = signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime());
      const reply = nextMessage(device, 'the reply on broker 2', (m) => m.topic === topics.reply(dev.deviceId, 'device'), 10_000);
      await device.publishAsync(topics.hubRequest(db.hubId, dev.deviceId), toBuffer(req.bytes), { qos: 1 });
      assert.ok(bytesEqual(openReply((await reply).payload, db.key.signer.publicKey).nonce, req.nonce));

      await b2.kill();
      await hub.waitFor(new RegExp(`"msg":"broker connection lost; reconnecting".*"broker":"${b2.url}"`), 'the lost line naming broker 2');
      await b2.restart();
      await hub.waitFor(new RegExp(`"msg":"broker connection restored".*"broker":"${b2.url}"`), 'the restored line naming broker 2');
      assert.doesNotMatch(hub.output(), /no broker connection is up/);
    } finally {
      hub.process.kill('SIGTERM');
      await hub.exited;
      await device.endAsync(true);
    }
    assert.match(hub.output(), /"msg":"stopped: received 1/);
  });
});
