/**
 * mm speaks MQTT 5 where the broker does, and there a ticket request carries a Message Expiry
 * Interval of one ticket interval in whole seconds (docs/PROTOCOL.md §6): read off the wire by the
 * raw test broker. A broker that refuses MQTT 5 (Aedes 1.x) gets MQTT 3.1.1 at once, no refusal
 * counted; the embedded Aedes carries mm's requests as before; Mosquitto hands the expiry on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MqttHubLink, type HubLinkSink } from '../../actors/mm/index.ts';
import { mmKeepaliveSeconds, requestExpirySeconds } from '../../actors/mm/mqtt-link.ts';
import { Logger } from '../../actors/log/index.ts';
import { connectMqtt, startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { startRawBroker } from '../support/raw-broker.ts';
import { nextMessage, within } from '../mqtt/wait.ts';

const MQTT_URL = process.env.MQTT_URL;

function until(what: string, ok: () => boolean): Promise<void> {
  return within<void>(10_000, what, (resolve) => {
    const t = setInterval(() => ok() && resolve(), 2);
    if (ok()) resolve();
    return () => clearInterval(t);
  });
}

function linkTo(url: string, intervalMs: number | undefined, deviceId = 'pi-expiry') {
  let up = false;
  const sink: HubLinkSink = { reply: () => {}, service: () => {}, connection: (u) => void (up = u), writable: () => {} };
  const quiet = Logger.create({ component: 'mm test', level: 'error', write: () => {} });
  const link = new MqttHubLink({ url, deviceId, services: ['sensor'], ...(intervalMs !== undefined ? { intervalMs } : {}) }, quiet);
  link.start(sink);
  return { link, isUp: () => up };
}

test('request expiry is the interval in whole seconds, at least 1; keep-alive one interval within [5 s, 60 s]', () => {
  assert.equal(requestExpirySeconds(10_000), 10);
  assert.equal(requestExpirySeconds(2_500), 2);
  assert.equal(requestExpirySeconds(500), 1);
  assert.equal(mmKeepaliveSeconds(500), 5);
  assert.equal(mmKeepaliveSeconds(15_000), 15);
  assert.equal(mmKeepaliveSeconds(600_000), 60);
});

test('on MQTT 5 a ticket request expires after one interval; boot/image requests and service data do not', async () => {
  const broker = await startRawBroker();
  const { link, isUp } = linkTo(broker.url, 15_000);
  try {
    await until('up', isUp);
    assert.deepEqual(broker.connects, [5], 'MQTT 5 first');
    link.publishRequest('ih-1', new Uint8Array([1]), 'ticket');
    link.publishRequest('ih-1', new Uint8Array([3]), 'lane');
    link.publishService('sensor', 'readings', new Uint8Array([2]));
    await until('the three publishes', () => broker.publishes.length === 3);
    const [request, lane, service] = broker.publishes;
    assert.equal(request!.topic, topics.hubRequest('ih-1', 'pi-expiry'));
    assert.equal(request!.level, 5);
    assert.equal(request!.qos, 1);
    assert.equal(request!.properties.get(0x02), 15, 'Message Expiry Interval: 15 s');
    assert.equal(lane!.topic, request!.topic);
    assert.equal(lane!.properties.has(0x02), false, 'the asker of a boot or image request keeps its own time');
    assert.equal(service!.topic, topics.serviceOut('sensor', 'pi-expiry', 'readings'));
    assert.equal(service!.properties.has(0x02), false);
  } finally {
    link.close();
    await broker.close();
  }
});

test('without an interval (a link made by hand) requests carry no expiry', async () => {
  const broker = await startRawBroker();
  const { link, isUp } = linkTo(broker.url, undefined);
  try {
    await until('up', isUp);
    link.publishRequest('ih-1', new Uint8Array([1]), 'ticket');
    await until('the publish', () => broker.publishes.length === 1);
    assert.equal(broker.publishes[0]!.properties.size, 0);
  } finally {
    link.close();
    await broker.close();
  }
});

test('a broker that refuses MQTT 5 gets MQTT 3.1.1, and no refusal is counted', async () => {
  const broker = await startRawBroker();
  broker.refuseV5 = true;
  const { link, isUp } = linkTo(broker.url, 1000);
  try {
    await until('up', isUp);
    assert.deepEqual(broker.connects, [5, 4]);
    assert.equal(link.counters.connectRefused, 0);
    link.publishRequest('ih-1', new Uint8Array([1]), 'ticket');
    await until('the publish', () => broker.publishes.length === 1);
    assert.equal(broker.publishes[0]!.level, 4);
  } finally {
    link.close();
    await broker.close();
  }
});

test('the embedded Aedes (MQTT 3.1.1 only) carries mm requests as before', async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  const hub = connectMqtt(broker.url, { protocolVersion: 4 });
  const { link, isUp } = linkTo(broker.url, 1000, 'pi-aedes');
  try {
    await hub.subscribeAsync(topics.hubRequestSubscription('ih-1'), { qos: 1 });
    await until('up', isUp);
    const got = nextMessage(hub, 'the request', (m) => m.topic === topics.hubRequest('ih-1', 'pi-aedes'));
    link.publishRequest('ih-1', new Uint8Array([7]), 'ticket');
    assert.deepEqual([...(await got).payload], [7]);
    assert.equal(link.counters.connectRefused, 0);
  } finally {
    link.close();
    await hub.endAsync(true);
    await broker.close();
  }
});

test('Mosquitto (MQTT_URL) hands the request on to an MQTT 5 hub with its expiry', async (t) => {
  if (MQTT_URL === undefined) return t.skip('MQTT_URL is not set');
  const deviceId = `pi-exp-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const hub = connectMqtt(MQTT_URL, { protocolVersion: 5 });
  const { link, isUp } = linkTo(MQTT_URL, 4000, deviceId);
  try {
    await hub.subscribeAsync(topics.hubRequest('ih-1', deviceId), { qos: 1 });
    await until('up', isUp);
    const got = nextMessage(hub, 'the request', () => true);
    link.publishRequest('ih-1', new Uint8Array([7]), 'ticket');
    const expiry = (await got).packet.properties?.messageExpiryInterval;
    // The broker hands on what is left of it: 4 s, or 3 if a second boundary passed on the way.
    assert.ok(expiry === 4 || expiry === 3, `expiry ${expiry}`);
  } finally {
    link.close();
    await hub.endAsync(true);
  }
});
