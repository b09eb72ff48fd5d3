import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { MqttClient } from 'mqtt';
import {
  awaitConnected,
  connectMqtt,
  MqttUrlError,
  parseBrokerUrl,
  probeBroker,
  startEmbeddedBroker,
  toBuffer,
} from '../../actors/mqtt/index.ts';
import { nextMessage, within, watchNoDelay } from './wait.ts';

const noDelay = watchNoDelay(after);

const MQTT_URL = process.env.MQTT_URL;

/** The client's current TCP socket (MQTT.js exposes it as `stream`). */
function socketOf(client: MqttClient): net.Socket {
  assert.ok(client.stream instanceof net.Socket);
  return client.stream;
}

/** Broker-side sockets accepted on `port` whose peer is `client`'s socket. */
function acceptedFor(port: number, client: net.Socket): net.Socket[] {
  return [...noDelay.keys()].filter((s) => s.localPort === port && s.remotePort === client.localPort);
}

describe('connectMqtt', () => {
  it('sets TCP_NODELAY on the client socket, on the broker side, and again after a reconnect', async () => {
    const broker = await startEmbeddedBroker();
    let broker2: Awaited<ReturnType<typeof startEmbeddedBroker>> | undefined;
    const client = connectMqtt(broker.url, { reconnectPeriodMs: 20 });
    try {
      await awaitConnected(client, 5000);
      const first = socketOf(client);
      assert.equal(noDelay.get(first), true, 'client socket');
      const accepted = acceptedFor(broker.port, first);
      assert.equal(accepted.length, 1);
      assert.equal(noDelay.get(accepted[0]), true, 'broker-side socket');

      const offline = within<void>(5000, 'client offline', (resolve) => {
        client.once('offline', () => resolve());
      });
      await broker.close();
      await offline;
      broker2 = await startEmbeddedBroker({ port: broker.port });
      await within<void>(5000, 'reconnect', (resolve) => {
        client.once('connect', () => resolve());
      });
      const second = socketOf(client);
      assert.notEqual(second, first, 'a new socket after reconnect');
      assert.equal(noDelay.get(second), true, 'reconnected client socket');
    } finally {
      await client.endAsync(true);
      await broker.close();
      await broker2?.close();
    }
  });

  it('round-trips a message through the embedded broker', async () => {
    const broker = await startEmbeddedBroker();
    const a = connectMqtt(broker.url);
    const b = connectMqtt(broker.url);
    try {
      await Promise.all([awaitConnected(a), awaitConnected(b)]);
      await b.subscribeAsync('dominion/v1/test/echo', { qos: 1 });
      const got = nextMessage(b, 'echo', (m) => m.topic === 'dominion/v1/test/echo');
      await a.publishAsync('dominion/v1/test/echo', toBuffer(new Uint8Array([1, 2, 3])), { qos: 1 });
      assert.deepEqual([...(await got).payload], [1, 2, 3]);
    } finally {
      await Promise.all([a.endAsync(true), b.endAsync(true)]);
      await broker.close();
    }
  });

  it('accepts mqtt:// and tcp:// (plain) and mqtts:// (TLS, test/mqtt/tls.test.ts) URLs, without credentials', () => {
    assert.deepEqual(parseBrokerUrl('mqtt://127.0.0.1:1884'), { host: '127.0.0.1', port: 1884, tls: false });
    assert.deepEqual(parseBrokerUrl('tcp://localhost'), { host: 'localhost', port: 1883, tls: false });
    assert.deepEqual(parseBrokerUrl('mqtt://[::1]:1900'), { host: '::1', port: 1900, tls: false });
    for (const bad of ['ws://x', 'http://x', 'not a url', 'mqtt://u:p@host', 'mqtt://:0']) {
      assert.throws(() => parseBrokerUrl(bad), MqttUrlError, bad);
    }
  });
});

describe('probeBroker', () => {
  it('Aedes: MQTT 3.1.1 only, no shared subscriptions', async () => {
    const broker = await startEmbeddedBroker();
    try {
      assert.deepEqual(await probeBroker(broker.url), { mqtt5: false, sharedSubscriptions: false });
    } finally {
      await broker.close();
    }
  });

  it('an unreachable broker is a typed error', async () => {
    const broker = await startEmbeddedBroker();
    const url = broker.url;
    await broker.close();
    await assert.rejects(probeBroker(url, { timeoutMs: 2000 }), { name: 'BrokerUnreachableError' });
  });

  it('Mosquitto (MQTT_URL): MQTT 5 and shared subscriptions', async (t) => {
    if (MQTT_URL === undefined) {
      t.skip('MQTT_URL is not set');
      return;
    }
    assert.deepEqual(await probeBroker(MQTT_URL), { mqtt5: true, sharedSubscriptions: true });
  });
  it("protocolVersion 'auto': MQTT 3.1.1 on Aedes (which refuses 5) without a refusal, MQTT 5 on Mosquitto", async () => {
    const broker = await startEmbeddedBroker();
    const refused: string[] = [];
    const onAedes = connectMqtt(broker.url, { protocolVersion: 'auto', receiveMaximum: 16, onRefused: (r) => void refused.push(r) });
    try {
      await awaitConnected(onAedes, 5000); // the refusal of MQTT 5 on the way is not a failure
      assert.equal(onAedes.options.protocolVersion, 4);
      assert.deepEqual(refused, []);
      // And it stays usable: a QoS 1 round trip.
      await onAedes.subscribeAsync('auto/t', { qos: 1 });
      const got = nextMessage(onAedes, 'the echo', (m) => m.topic === 'auto/t');
      await onAedes.publishAsync('auto/t', 'x', { qos: 1, properties: { messageExpiryInterval: 5 } });
      assert.equal((await got).payload.toString(), 'x');
    } finally {
      await onAedes.endAsync(true);
      await broker.close();
    }
    if (MQTT_URL === undefined) return;
    const onMosquitto = connectMqtt(MQTT_URL, { protocolVersion: 'auto' });
    try {
      await awaitConnected(onMosquitto, 5000);
      assert.equal(onMosquitto.options.protocolVersion, 5);
    } finally {
      await onMosquitto.endAsync(true);
    }
  });
});
