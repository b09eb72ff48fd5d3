/**
 * `mm`'s MQTT link tells the forwarder when it has room for service data again: after it refused a
 * publish for its budget of unacknowledged bytes, once the broker's acknowledgements bring that back
 * to half the budget. Real broker (embedded Aedes).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MqttHubLink, type HubLinkSink } from '../../actors/mm/index.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../actors/mqtt/index.ts';
import { within } from '../mqtt/wait.ts';

let broker: EmbeddedBroker;
before(async () => {
  broker = await startEmbeddedBroker({ port: 0 });
});
after(async () => {
  await broker.close();
});

test('a link that refused service data for its budget says writable once the broker acknowledged it', async () => {
  const link = new MqttHubLink({ url: broker.url, deviceId: 'pi-link', services: ['sensor'], maxServiceInflightBytes: 1000 });
  let up = false;
  let writable = 0;
  const sink: HubLinkSink = { reply: () => {}, service: () => {}, connection: (u) => void (up = u), writable: () => void writable++ };
  try {
    link.start(sink);
    await within<void>(5000, 'the link to come up', (resolve) => {
      const t = setInterval(() => up && resolve(), 5);
      return () => clearInterval(t);
    });
    assert.equal(link.publishService('sensor', 'readings', new Uint8Array(800)), true);
    assert.equal(
      link.publishService('sensor', 'readings', new Uint8Array(800)),
      false,
      'over the budget while the first is unacknowledged',
    );
    assert.equal(writable, 0);
    await within<void>(
      5000,
      () => `writable (inflight ${link.serviceInflightBytes} bytes)`,
      (resolve) => {
        const t = setInterval(() => writable > 0 && resolve(), 5);
        return () => clearInterval(t);
      },
    );
    assert.equal(writable, 1, 'said once');
    assert.equal(link.publishService('sensor', 'readings', new Uint8Array(800)), true, 'and it takes data again');
  } finally {
    link.close();
  }
});
