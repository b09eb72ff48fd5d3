/**
 * Image chunks and boot tickets over a real broker (MQTT_URL, Mosquitto): requests on the hub's one
 * request topic, answers on the device's image and boot lanes, published only after the batch that
 * decided them is committed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { bytesEqual, randomNonce } from '../../actors/crypto/index.ts';
import { awaitConnected, connectMqtt, toBuffer } from '../../actors/mqtt/index.ts';
import { HubCore, HubServer, IH_ROLE } from '../../actors/hub/index.ts';
import { publishArtifacts, readAudit } from '../../actors/hub/sqlite/index.ts';
import { lanes, topics } from '../../proto/index.ts';
import { nextMessage } from '../mqtt/wait.ts';
import { digestOf, sqliteIhFixture, tempDir, uniqueId } from './fixtures.ts';
import { bootRequest, imageRequest, openBootTicket, openChunk } from './exchanges.ts';
import { newReleaseKey, writeArtifacts } from './release-fixture.ts';

const MQTT_URL = process.env.MQTT_URL;

async function fakeDevice(url: string, deviceId: string): Promise<MqttClient> {
  const client = connectMqtt(url, { protocolVersion: 5, clientId: `dev-${deviceId}` });
  await awaitConnected(client);
  await client.subscribeAsync(topics.replySubscription(deviceId), { qos: 1 });
  return client;
}

describe('HubServer: image chunks and boot tickets over Mosquitto (MQTT_URL)', () => {
  it('one chunk on reply/image.device and one boot ticket on reply/boot, each after its commit', async (t) => {
    if (MQTT_URL === undefined) {
      t.skip('MQTT_URL is not set');
      return;
    }
    const fx = sqliteIhFixture();
    const key = newReleaseKey();
    const built = writeArtifacts(tempDir(), { key, version: 2 });
    publishArtifacts(fx.store.db, built.dir, { releasePub: key.publicKey });
    const core = new HubCore({ role: IH_ROLE, signer: fx.hub, store: fx.store });
    const hubId = uniqueId('ih');
    const server = await HubServer.start({ core, brokerUrl: MQTT_URL, hubId, shareGroup: null });
    const device = await fakeDevice(MQTT_URL, fx.dev.deviceId);
    try {
      // A chunk.
      const req = imageRequest(fx.dev.device, { deviceId: fx.dev.deviceId, instance: 'device', label: 'sw', version: 2, board: 'rpi4' });
      const chunkMessage = nextMessage(device, 'an image chunk', (m) => m.topic === topics.reply(fx.dev.deviceId, lanes.image('device')));
      await device.publishAsync(topics.hubRequest(hubId, fx.dev.deviceId), toBuffer(req.bytes), { qos: 1 });
      const m = await chunkMessage;
      assert.equal(m.packet.qos, 1);
      assert.equal(m.packet.retain, false);
      assert.equal(m.packet.properties?.messageExpiryInterval, 30);
      const chunk = openChunk(m.payload, fx.hub.publicKey);
      assert.ok(bytesEqual(chunk.nonce, req.nonce));
      assert.ok(bytesEqual(chunk.data, built.bundles.get('sw')!.subarray(0, 32 * 1024)));
      assert.ok(bytesEqual(chunk.manifest, built.manifest));

      // A boot ticket: its audit row is on disk when it arrives.
      const bootNonce = randomNonce(32);
      const images = [
        { label: 'sw', version: 2n, digest: digestOf('sw') },
        { label: 'hypervisor', version: 2n, digest: digestOf('hv') },
        { label: 'mm', version: 2n, digest: digestOf('mm') },
      ];
      let auditedWhenReceived = false;
      const bootMessage = nextMessage(device, 'a boot ticket', (msg) => {
        if (msg.topic !== topics.reply(fx.dev.deviceId, lanes.boot)) return false;
        auditedWhenReceived = readAudit(fx.store.db).some((e) => e.outcome === 'boot-granted' && e.deviceId === fx.dev.deviceId);
        return true;
      });
      const boot = bootRequest(fx.dev.device, {
        deviceId: fx.dev.deviceId,
        bootNonce,
        manifestDigest: digestOf('manifest 2'),
        firmwareVersion: '0.1.2',
        bootCount: 4n,
        images,
      });
      await device.publishAsync(topics.hubRequest(hubId, fx.dev.deviceId), toBuffer(boot), { qos: 1 });
      const b = await bootMessage;
      assert.equal(b.packet.properties?.messageExpiryInterval, 60);
      const ticket = openBootTicket(b.payload, fx.hub.publicKey);
      assert.ok(bytesEqual(ticket.bootNonce, bootNonce));
      assert.equal(ticket.initialTimeoutMs, 45_500);
      assert.ok(auditedWhenReceived, 'committed before it was published');

      const counters = core.counters();
      assert.equal(counters.images.outcomes.chunk, 1);
      assert.equal(counters.boot.outcomes['boot-granted'], 1);
      assert.equal(server.stats().handlerFailures, 0);
    } finally {
      await device.endAsync(true);
      await server.stop();
      fx.store.close();
      const c = connectMqtt(MQTT_URL);
      await awaitConnected(c);
      await c.publishAsync(topics.hubStatus(hubId), Buffer.alloc(0), { qos: 1, retain: true });
      await c.endAsync(true);
    }
  });
});
