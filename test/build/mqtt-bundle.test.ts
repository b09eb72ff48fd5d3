/**
 * The `mm` bundle's MQTT link really works with MQTT.js's WebSocket, SOCKS, debug, worker-timers
 * and readable-stream dependencies replaced by the shims of build/aliases.ts: it connects to a
 * broker over TCP, relays requests and replies, and carries service traffic both ways.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { awaitConnected, connectMqtt, startEmbeddedBroker, type EmbeddedBroker, type MqttClient } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import type { HubLink, HubLinkSink, MqttLinkOptions } from '../../actors/mm/index.ts';
import { loadBoard } from '../../boards/index.ts';
import { bundleDomain, PROJECT_ROOT, shippedInputs } from '../../build/index.ts';
import { importBytes } from '../../actors/device/index.ts';
import { within } from '../mqtt/wait.ts';

let broker: EmbeddedBroker;
let hub: MqttClient;
let MqttHubLink: new (o: MqttLinkOptions) => HubLink;
let inputs: string[];

before(async () => {
  const { code, metafile } = await bundleDomain({
    root: PROJECT_ROOT,
    entry: `${PROJECT_ROOT}/actors/images/mm.ts`,
    board: loadBoard('sim'),
  });
  inputs = shippedInputs(metafile);
  ({ MqttHubLink } = await importBytes<{ MqttHubLink: typeof MqttHubLink }>(code));
  broker = await startEmbeddedBroker();
  hub = connectMqtt(broker.url, { clientId: 'test-hub' });
  await awaitConnected(hub, 5000);
});

after(async () => {
  hub?.end(true);
  await broker?.close();
});

test('the mm bundle carries MQTT.js without its browser, proxy and logging dependencies', () => {
  assert.ok(
    inputs.some((p) => p.startsWith('node_modules/mqtt/')),
    'MQTT.js is in the bundle',
  );
  for (const pkg of ['ws', 'socks', 'debug', 'worker-timers', 'readable-stream']) {
    assert.ok(!inputs.some((p) => p.includes(`node_modules/${pkg}/`)), `${pkg} is aliased away`);
  }
  assert.ok(inputs.includes('build/shims/readable-stream.cjs'));
});

test('the bundled MQTT link relays requests, replies and service traffic through a broker', async () => {
  const deviceId = 'pi-0042';
  const link = new MqttHubLink({ url: broker.url, deviceId, services: ['sensor'] });
  const replies: Array<[string, Buffer]> = [];
  const inbound: Array<[string, Buffer]> = [];
  let up = false;
  const sink: HubLinkSink = {
    reply: (instance, envelope) => void replies.push([instance, Buffer.from(envelope)]),
    service: (service, payload) => void inbound.push([service, Buffer.from(payload)]),
    connection: (isUp) => void (up = isUp),
    writable: () => {},
  };
  try {
    link.start(sink);
    await within<void>(5000, 'the bundled link to connect and subscribe', (resolve) => {
      const timer = setInterval(() => up && resolve(), 5);
      return () => clearInterval(timer);
    });

    // Hub side: subscribed to its request topic and the sensor's telemetry.
    await new Promise<void>((resolve, reject) =>
      hub.subscribe([topics.hubRequest('ih-1', deviceId), topics.serviceOut('sensor', deviceId, 'readings')], { qos: 1 }, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    const request = Buffer.from([1, 2, 3, 0xff]);
    const got = within<Buffer>(5000, 'the request at the hub', (resolve) => {
      const on = (topic: string, payload: Buffer): void => void (topic === topics.hubRequest('ih-1', deviceId) && resolve(payload));
      hub.on('message', on);
      return () => hub.off('message', on);
    });
    link.publishRequest('ih-1', request);
    assert.deepEqual(await got, request);

    const telemetry = within<Buffer>(5000, 'the telemetry at the hub', (resolve) => {
      const on = (topic: string, payload: Buffer): void => void (topic.endsWith('/readings') && resolve(payload));
      hub.on('message', on);
      return () => hub.off('message', on);
    });
    link.publishService('sensor', 'readings', Buffer.from('{"seq":1}'));
    assert.equal((await telemetry).toString(), '{"seq":1}');

    hub.publish(topics.reply(deviceId, 'device'), Buffer.from([9, 8, 7]), { qos: 1 });
    hub.publish(topics.serviceIn(deviceId, 'sensor'), Buffer.from('{"periodMs":100}'), { qos: 1 });
    await within<void>(5000, 'the reply and the inbound service message at the device', (resolve) => {
      const timer = setInterval(() => replies.length > 0 && inbound.length > 0 && resolve(), 5);
      return () => clearInterval(timer);
    });
    assert.deepEqual(replies, [['device', Buffer.from([9, 8, 7])]]);
    assert.deepEqual(inbound, [['sensor', Buffer.from('{"periodMs":100}')]]);
  } finally {
    link.close();
  }
});
