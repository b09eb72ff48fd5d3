/**
 * SQLite-backed hubs on real brokers: a simulated device (real clock) keeps its tickets across an
 * Aedes restart on the same port; on Mosquitto (MQTT_URL), two `dominion hub` processes share one
 * database through a shared subscription, each with its own status and Will, and one's crash leaves
 * the other online and serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RealClock } from '../../runtime/index.ts';
import { Device, timingFor, type DeviceEvent } from '../../actors/device/index.ts';
import { MqttHubLink } from '../../actors/mm/index.ts';
import { awaitConnected, connectMqtt, startEmbeddedBroker, toBuffer, type EmbeddedBroker } from '../../actors/mqtt/index.ts';
import { sensorService } from '../../actors/sm/index.ts';
import { topics } from '../../proto/index.ts';
import { IH_ROLE, newHubKey, parseHubStatus, requestRef, writeHubKeyFile } from '../../actors/hub/index.ts';
import { enrollKeys, openHubDatabase, readAudit, setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { startSqliteFleet } from '../../cli/up-hubs.ts';
import { BrokerAuthorizer } from '../../actors/broker-auth/index.ts';
import { messages, nextMessage, within } from '../mqtt/wait.ts';
import { dominion } from './child.ts';
import { deviceRuntime, newDevice, openReply, signedRequest, tempDir, uniqueId } from './fixtures.ts';

function ticketFor(device: Device, instance: string, what: string, ms = 10_000): Promise<Extract<DeviceEvent, { type: 'ticket' }>> {
  return within(ms, what, (resolve) =>
    device.onEvent((e) => {
      if (e.type === 'ticket' && e.instance === instance) resolve(e);
    }),
  );
}

test('broker restart, with per-device credentials and ACLs: SQLite hubs reconnect and resubscribe; the device is renewed inside its deferral window', async () => {
  const intervalMs = 1000;
  const deferralMs = 3000;
  // The broker admits only the accounts enrolment wrote, with the ACL rule table (docs/ARCHITECTURE.md §7.1).
  const auth = new BrokerAuthorizer();
  let broker: EmbeddedBroker = await startEmbeddedBroker({ auth });
  const port = broker.port;
  const suffix = uniqueId('r');
  const sqlite = await startSqliteFleet({
    dir: tempDir(),
    brokerUrl: broker.url,
    deviceId: `pi-${suffix}`,
    services: ['sensor'],
    deferralMs,
    onAccounts: (users) => auth.replaceUsers(users),
  });
  const { fleet } = sqlite;
  const { username, password } = sqlite.deviceCredential;
  const clock = new RealClock();
  const device = new Device({
    deviceId: fleet.deviceId,
    firmwareVersion: '1.0.0',
    keys: fleet.keys,
    hubs: fleet.pins,
    timing: timingFor(intervalMs),
    services: [sensorService({ periodMs: intervalMs })],
    dataDir: tempDir('dominion-dev-'),
    openLink: () => new MqttHubLink({ url: broker.url, deviceId: fleet.deviceId, services: ['sensor'], username, password }),
    clock,
  });
  const expiries: DeviceEvent[] = [];
  device.onEvent((e) => {
    if (e.type === 'expired') expiries.push(e);
  });
  const instances = ['device', 'mm', 'sm:sensor'];
  try {
    const first = instances.map((i) => ticketFor(device, i, `a first ticket for ${i}`));
    device.boot();
    const before = await Promise.all(first);
    const lastBefore = new Map(before.map((t) => [t.instance, t.at]));
    let restarted = false;
    device.onEvent((e) => {
      if (e.type === 'ticket' && !restarted) lastBefore.set(e.instance, e.at);
    });
    await broker.close();
    restarted = true;
    const restartedAt = clock.now();
    broker = await startEmbeddedBroker({ port, auth });
    const after = await Promise.all(
      instances.map((i) =>
        within<DeviceEvent & { type: 'ticket' }>(10_000, `a ticket for ${i} after the restart`, (resolve) =>
          device.onEvent((e) => {
            if (e.type === 'ticket' && e.instance === i && e.at > restartedAt) resolve(e);
          }),
        ),
      ),
    );
    for (const t of after) {
      const gap = t.at - lastBefore.get(t.instance)!;
      assert.ok(gap < deferralMs, `${t.instance} renewed ${gap} ms after its last ticket, inside the ${deferralMs} ms deferral`);
    }
    assert.deepEqual(expiries, [], 'no AWDT expired across the broker restart');
    for (const hub of sqlite.hubs) assert.ok(hub.server.stats().connects >= 2, 'each hub reconnected');
    // Everything the hubs answered is in their audit logs (a reply goes out only after its commit).
    assert.ok(readAudit(sqlite.hubs[0]!.store.db).filter((e) => e.outcome === 'ticket').length >= 4);
  } finally {
    device.shutdown();
    await sqlite.stop();
    await broker.close();
  }
});

test(
  'Mosquitto: two hub processes on one database share the load; one crashes, its Will marks only itself offline',
  { skip: process.env.MQTT_URL === undefined ? 'MQTT_URL not set' : false },
  async () => {
    const url = process.env.MQTT_URL!;
    const dir = tempDir();
    const dbPath = join(dir, 'ih.db');
    const keyPath = join(dir, 'ih.key.json');
    const hubId = uniqueId('ih');
    const key = newHubKey(hubId, IH_ROLE);
    writeHubKeyFile(keyPath, key);
    const dev = newDevice();
    const store = SqliteHubStore.open({ path: dbPath, create: true, identity: { hubId, role: IH_ROLE } });
    setFleetPolicy(store.db, { default: { deferralMs: 20_000 } });
    enrollKeys(store.db, dev.deviceId, [{ instance: 'device', publicKey: dev.device.publicKey }]);
    store.close();

    const observer = connectMqtt(url, { protocolVersion: 5 });
    const statuses = new Map<string, boolean>();
    observer.on('message', (topic, payload) => {
      const s = parseHubStatus(payload);
      if (topic.startsWith(`${topics.hubStatus(hubId)}/`) && s !== undefined) statuses.set(s.clientId, s.online);
    });
    await awaitConnected(observer);
    await observer.subscribeAsync(`${topics.hubStatus(hubId)}/#`, { qos: 1 });
    await observer.subscribeAsync(topics.replySubscription(dev.deviceId), { qos: 1 });
    const args = ['hub', '--role', 'ih', '--id', hubId, '--broker', url, '--db', dbPath, '--key', keyPath];
    const a = dominion(args);
    const b = dominion(args);
    try {
      await Promise.all([
        a.waitFor(/online: shared subscription \(group/, 'hub a online (shared)'),
        b.waitFor(/online: shared subscription/, 'hub b online (shared)'),
      ]);
      await within<void>(5000, 'both per-process statuses online', (resolve) => {
        const check = (): void => {
          if ([...statuses.values()].filter(Boolean).length >= 2) resolve();
        };
        check();
        observer.on('message', check);
        return () => observer.off('message', check);
      });

      // 40 requests: answered once each, with a message expiry, by both processes between them.
      const reqs = Array.from({ length: 40 }, () => signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime()));
      const replies = messages(observer, 'replies', 40, (m) => m.topic === topics.reply(dev.deviceId, 'device'));
      for (const r of reqs) await observer.publishAsync(topics.hubRequest(hubId, dev.deviceId), toBuffer(r.bytes), { qos: 1 });
      for (const m of await replies) {
        assert.equal(m.packet.qos, 1);
        const expiry = m.packet.properties?.messageExpiryInterval;
        assert.ok(expiry !== undefined && expiry >= 1 && expiry <= 20, `message expiry ${expiry} s`);
        assert.equal(openReply(m.payload, key.publicKey).outcome.case, 'ticket');
      }

      const aClient = [...statuses.keys()];
      a.process.kill('SIGKILL');
      await a.exited;
      await within<void>(10_000, "the crashed process's Will", (resolve) => {
        const check = (): void => {
          if ([...statuses.values()].filter((online) => !online).length === 1) resolve();
        };
        check();
        observer.on('message', check);
        return () => observer.off('message', check);
      });
      assert.equal([...statuses.values()].filter(Boolean).length, 1, 'the other process still reads online');
      assert.equal(aClient.length, 2);
      const after = signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime());
      const answered = nextMessage(
        observer,
        'a reply from the survivor',
        (m) =>
          m.topic === topics.reply(dev.deviceId, 'device') &&
          requestRef(openReply(m.payload, key.publicKey).nonce) === requestRef(after.nonce),
        10_000,
      );
      await observer.publishAsync(topics.hubRequest(hubId, dev.deviceId), toBuffer(after.bytes), { qos: 1 });
      await answered;
      b.process.kill('SIGTERM');
      assert.equal(await b.exited, 0);
      const db = openHubDatabase(dbPath);
      try {
        const hubs = new Set(
          readAudit(db)
            .filter((e) => e.outcome === 'ticket')
            .map((e) => e.hubId),
        );
        assert.equal(readAudit(db).filter((e) => e.outcome === 'ticket').length, 41);
        assert.deepEqual([...hubs], [hubId]);
      } finally {
        db.close();
      }
    } finally {
      a.process.kill('SIGKILL');
      b.process.kill('SIGKILL');
      // Leave no retained status behind on the shared broker.
      for (const clientId of statuses.keys())
        await observer.publishAsync(`${topics.hubStatus(hubId)}/${clientId}`, Buffer.alloc(0), { qos: 1, retain: true });
      await observer.endAsync(true);
    }
  },
);
