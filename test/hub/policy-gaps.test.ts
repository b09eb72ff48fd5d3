/**
 * A hub without a policy for what it answers withholds every request `no-policy`, and its devices
 * reset (issue 14, trap 3): `dominion hub` says so at start-up, naming the instance and the fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { IH_ROLE, newHubKey, writeHubKeyFile } from '../../actors/hub/index.ts';
import { enrollKeys, policyGaps, setDevicePolicy, setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import { dominion, ihHubArgs } from './child.ts';
import { newDevice, tempDir, uniqueId } from './fixtures.ts';

function ihStore(): { store: SqliteHubStore; path: string; hubId: string } {
  const path = join(tempDir(), 'ih.db');
  const hubId = uniqueId('ih');
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId, role: IH_ROLE } });
  for (const d of [newDevice(), newDevice()]) enrollKeys(store.db, d.deviceId, [{ instance: 'device', publicKey: d.device.publicKey }]);
  return { store, path, hubId };
}

test('policyGaps names the instances no fleet rule or default covers, and the devices left without one', () => {
  const { store } = ihStore();
  try {
    assert.deepEqual(policyGaps(store.db, ['device', 'mm']), [
      { instance: 'device', devicesWithoutPolicy: 2 },
      { instance: 'mm', devicesWithoutPolicy: 2 },
    ]);
    setFleetPolicy(store.db, { instances: { device: { deferralMs: 50_000 } } });
    assert.deepEqual(policyGaps(store.db, ['device', 'mm']), [{ instance: 'mm', devicesWithoutPolicy: 2 }]);
    const one = store.db.prepare('SELECT device_id FROM device LIMIT 1').pluck().get() as string;
    setDevicePolicy(store.db, one, { default: { deferralMs: 50_000 } });
    assert.deepEqual(policyGaps(store.db, ['device', 'mm']), [{ instance: 'mm', devicesWithoutPolicy: 1 }]);
    setFleetPolicy(store.db, { default: { deferralMs: 50_000 } });
    assert.deepEqual(policyGaps(store.db, ['device', 'mm']), []);
  } finally {
    store.close();
  }
});

test('dominion hub warns at start-up of a policy-less instance, naming the command that fixes it', async () => {
  const { store, path, hubId } = ihStore();
  setFleetPolicy(store.db, { instances: { device: { deferralMs: 50_000 } } });
  store.close();
  const keyPath = join(tempDir(), 'ih.key.json');
  writeHubKeyFile(keyPath, newHubKey(hubId, IH_ROLE));
  const broker = await startEmbeddedBroker();
  const hub = dominion([...ihHubArgs({ hubId, brokerUrl: broker.url, dbPath: path, keyPath })]);
  try {
    await hub.waitFor(/"level":"warn".*no fleet policy for mm/, 'the policy warning');
    assert.match(hub.output(), /2 enrolled device\(s\) without a policy of their own will be withheld \(no-policy\)/);
    assert.match(hub.output(), /dominion policy --db .*ih\.db --set <file>/);
    assert.doesNotMatch(hub.output(), /no fleet policy for device/);
  } finally {
    hub.process.kill('SIGTERM');
    await hub.exited;
    await broker.close();
  }
});
