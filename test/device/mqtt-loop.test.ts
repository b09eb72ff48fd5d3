/**
 * The whole ticket loop over real MQTT: embedded Aedes on an ephemeral port, and Mosquitto too when
 * MQTT_URL is set. Device time is a ManualClock; the network is real, so the test awaits events
 * (bounded, failing on timeout) instead of sleeping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Device, DeviceEvent } from '../../actors/device/index.ts';
import { mqttFleet } from '../support/mqtt-fleet.ts';
import { connectMqtt, startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import { ResetReason } from '../../proto/index.ts';

async function waitForEvent(device: Device, pred: (e: DeviceEvent) => boolean, what: string, timeoutMs = 5000): Promise<DeviceEvent> {
  const e = await device.nextEvent(pred, timeoutMs);
  if (e === undefined) throw new Error(`timed out waiting for ${what}`);
  return e;
}

async function loopOver(url: string, protocolVersion: 4 | 5): Promise<void> {
  const { fleet, clock, device, links, intervalMs, deferralMs, stop } = await mqttFleet({ url, protocolVersion });
  // On MQTT 5, what the broker hands on of each request's expiry (docs/PROTOCOL.md §6.3).
  const observer = protocolVersion === 5 ? connectMqtt(url, { protocolVersion: 5 }) : undefined;
  const expiries: Array<number | undefined> = [];
  observer?.on('message', (_t, _p, packet) => void expiries.push(packet.properties?.messageExpiryInterval));
  await observer?.subscribeAsync(`dominion/v1/hub/+/request/${fleet.deviceId}`, { qos: 1 });
  try {
    device.boot();
    // Each instance gets a ticket for a request made at t = 0, over the broker.
    const tickets = ['device', 'mm', 'sm:sensor'].map((i) =>
      waitForEvent(device, (e) => e.type === 'ticket' && e.instance === i, `a ticket for ${i}`),
    );
    clock.advance(1); // the first round is due at 0 and runs (drawing its nonce) at 1
    for (const t of await Promise.all(tickets)) assert.equal(t.type === 'ticket' && t.deadline, 1 + deferralMs);
    if (observer !== undefined) {
      // One interval (1 s): 1 as handed on, or less if a second boundary passed in the broker.
      assert.ok(expiries.includes(1), `ticket requests expire after the interval: ${JSON.stringify(expiries)}`);
      assert.ok(
        expiries.every((e) => e === undefined || e <= 1),
        JSON.stringify(expiries),
      );
    }
    // The IH withholds: the device resets once the deadline passes, whatever the network does.
    fleet.ih.policy.withhold(fleet.deviceId, 'device');
    const withheld = waitForEvent(device, (e) => e.type === 'withheld' && e.instance === 'device', 'the IH to withhold');
    clock.advance(intervalMs);
    await withheld;
    const reset = waitForEvent(device, (e) => e.type === 'reset', 'the device reset');
    clock.advance(deferralMs);
    const r = await reset;
    assert.equal(r.type === 'reset' && r.at <= 1 + deferralMs, true, "reset no later than the last ticket's deadline");
    assert.notEqual(r.type === 'reset' && r.reason, ResetReason.TICKET_TIMEOUT, 'the device knows it was withheld, not silenced');
    assert.ok(links[0]!.counters.published >= 4);
  } finally {
    await observer?.endAsync(true);
    await stop();
  }
}

test('the ticket loop runs over embedded Aedes (MQTT 3.1.1)', async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  try {
    await loopOver(broker.url, 4);
  } finally {
    await broker.close();
  }
});

test(
  'the ticket loop runs over Mosquitto (MQTT_URL), device and hubs on MQTT 5',
  { skip: process.env.MQTT_URL === undefined ? 'MQTT_URL not set' : false },
  async () => {
    await loopOver(process.env.MQTT_URL!, 5);
  },
);

test('mm survives a broker restart: tickets resume well inside the deferral window', async () => {
  let broker = await startEmbeddedBroker({ port: 0 });
  const port = broker.port;
  const { clock, device, stop } = await mqttFleet({ url: broker.url, hubReconnectMs: 100 });
  try {
    const first = waitForEvent(device, (e) => e.type === 'ticket' && e.instance === 'device', 'the first device ticket');
    device.boot();
    clock.advance(1);
    await first;
    await broker.close();
    broker = await startEmbeddedBroker({ port });
    // The hubs reconnect on their own; the device's round comes due while it may still be offline.
    const again = waitForEvent(device, (e) => e.type === 'ticket' && e.instance === 'device', 'a device ticket after the restart', 8000);
    clock.advance(1000);
    const t = await again;
    assert.ok(t.type === 'ticket' && t.deadline <= 1001 + 3000, 'renewed by a request made after the restart');
    assert.deepEqual(
      device.status.instances.map((i) => i.expiries),
      [0, 0, 0],
    );
  } finally {
    await stop();
    await broker.close();
  }
});
