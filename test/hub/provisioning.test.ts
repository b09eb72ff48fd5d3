import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  devicePublicKeys,
  enrollDevice,
  IH_ROLE,
  KeyFileError,
  loadProvisioning,
  newDeviceKeys,
  newHubKey,
  provisioningJson,
  ProvisioningError,
  readDeviceKeysFile,
  readDevicePublicFile,
  readHubKeyFile,
  serviceHubRole,
  SqliteHubStore,
  writeDeviceKeysFile,
  writeDevicePublicFile,
  writeHubKeyFile,
  writeProvisioning,
  type ProvisioningInput,
} from '../../actors/hub/index.ts';
import { hex } from '../../actors/crypto/index.ts';
import { requireMmKey } from '../../actors/provisioning/index.ts';
import { tempDir } from './fixtures.ts';

function provisioningError(path: string): string {
  try {
    loadProvisioning(path);
  } catch (err) {
    assert.ok(err instanceof ProvisioningError, String(err));
    return err.message;
  }
  assert.fail('expected a ProvisioningError');
}

describe('key files', () => {
  it('round-trip; a secret file readable by others is refused', () => {
    const dir = tempDir();
    const hub = newHubKey('ih-1', IH_ROLE);
    writeHubKeyFile(join(dir, 'ih.key.json'), hub);
    assert.equal(hex(readHubKeyFile(join(dir, 'ih.key.json')).publicKey), hex(hub.publicKey));
    const dev = newDeviceKeys('pi-1', ['sensor']);
    writeDeviceKeysFile(join(dir, 'pi.keys.json'), dev);
    assert.equal(hex(readDeviceKeysFile(join(dir, 'pi.keys.json')).services.sensor!), hex(dev.services.sensor!));
    chmodSync(join(dir, 'ih.key.json'), 0o644);
    assert.throws(
      () => readHubKeyFile(join(dir, 'ih.key.json')),
      (e: unknown) => e instanceof KeyFileError && /chmod 600/.test(e.message) && !e.message.includes(hex(hub.secretKey)),
    );
    writeFileSync(
      join(dir, 'bad.key.json'),
      '{"kind":"dominion.hub-key","version":1,"hubId":"x","role":"ih","publicKey":"00","secretKey":"00"}',
      { mode: 0o600 },
    );
    assert.throws(() => readHubKeyFile(join(dir, 'bad.key.json')), /publicKey must be 64 hex digits/);
  });
});

describe('provisioning files', () => {
  const input = (): ProvisioningInput => {
    const keys = devicePublicKeys(newDeviceKeys('pi-1', ['sensor']));
    return {
      deviceId: 'pi-1',
      deviceKeys: 'pi-1.keys.json',
      ih: { id: 'ih-1', publicKey: newHubKey('ih-1', IH_ROLE).publicKey },
      services: { sensor: { id: 'sh-sensor', publicKey: newHubKey('sh-sensor', serviceHubRole('sensor')).publicKey } },
      enrolled: keys.keys,
    };
  };

  it('loads what enrolment wrote: pins shaped as the device takes them, key path resolved', () => {
    const dir = tempDir();
    const i = input();
    writeProvisioning(join(dir, 'p.json'), i);
    const p = loadProvisioning(join(dir, 'p.json'));
    assert.equal(p.deviceKeysPath, join(dir, 'pi-1.keys.json'));
    assert.equal(hex(p.hubs.ih.publicKey), hex(i.ih.publicKey));
    assert.equal(p.hubs.services.sensor?.id, 'sh-sensor');
    assert.deepEqual(p.services, ['sensor']);
    assert.deepEqual(Object.keys(p.enrolled), ['device', 'mm', 'sm:sensor']);
  });

  it('names the file and the field in every error', () => {
    const dir = tempDir();
    const path = join(dir, 'p.json');
    assert.match(provisioningError(join(dir, 'none.json')), /none\.json: no such provisioning file/);
    writeFileSync(path, '{not json');
    assert.match(provisioningError(path), /p\.json: not JSON/);
    const good = JSON.parse(provisioningJson(input())) as Record<string, unknown>;
    const cases: Array<[(d: Record<string, any>) => void, RegExp]> = [
      [(d) => (d.kind = 'something'), /not a provisioning file/],
      [(d) => (d.version = 2), /format version 2 is not supported/],
      [(d) => (d.deviceId = 'bad id'), /deviceId must be/],
      [(d) => (d.hubs.ih.publicKey = 'abcd'), /hubs\.ih\.publicKey must be a 32-byte public key/],
      [(d) => delete d.hubs.ih, /hubs\.ih must be an object/],
      [(d) => delete d.enrolled.device, /enrolled\.device is missing/],
      [(d) => delete d.hubs.services.sensor, /enrolled has sm:sensor but hubs\.services has no hub for it/],
      [(d) => (d.broker = 'http://x'), /broker: unusable MQTT broker URL/],
      [(d) => (d.releaseKey = 'zz'), /releaseKey must be a 32-byte public key/],
    ];
    for (const [change, pattern] of cases) {
      const doc = structuredClone(good) as Record<string, any>;
      change(doc);
      writeFileSync(path, JSON.stringify(doc));
      assert.match(provisioningError(path), pattern);
    }
  });
});

describe('enrolment', () => {
  it('checks everything before writing anything', () => {
    const dir = tempDir();
    const dev = devicePublicKeys(newDeviceKeys('pi-1', ['sensor']));
    const ih = newHubKey('ih-1', IH_ROLE);
    const sh = newHubKey('sh-sensor', serviceHubRole('sensor'));
    const other = newHubKey('sh-cam', serviceHubRole('cam'));
    const ihDb = join(dir, 'ih.db');
    assert.throws(
      () => enrollDevice({ device: dev, hubs: [{ hub: ih, dbPath: ihDb }], deviceKeys: 'k' }),
      /runs service sensor but no service hub/,
    );
    assert.throws(
      () =>
        enrollDevice({
          device: dev,
          hubs: [
            { hub: ih, dbPath: ihDb },
            { hub: sh, dbPath: join(dir, 'sh.db') },
            { hub: other, dbPath: join(dir, 'cam.db') },
          ],
          deviceKeys: 'k',
        }),
      /no key for sm:cam/,
    );
    assert.throws(
      () => enrollDevice({ device: dev, hubs: [{ hub: sh, dbPath: join(dir, 'sh.db') }], deviceKeys: 'k' }),
      /exactly one infrastructure hub/,
    );
    assert.equal(existsSync(ihDb), false, 'no database was created by a refused enrolment');
    assert.throws(
      () =>
        enrollDevice({
          device: { deviceId: 'pi-1', keys: dev.keys.filter((k) => k.instance !== 'device') },
          hubs: [
            { hub: ih, dbPath: ihDb },
            { hub: sh, dbPath: join(dir, 'sh.db') },
          ],
          deviceKeys: 'k',
        }),
      /no key for the device instance/,
    );
    assert.equal(existsSync(ihDb), false);

    enrollDevice({
      device: dev,
      hubs: [
        { hub: ih, dbPath: ihDb },
        { hub: sh, dbPath: join(dir, 'sh.db') },
      ],
      deviceKeys: 'k',
    });
    // The IH's database is bound to ih-1: another hub cannot be enrolled into it.
    const ih2 = newHubKey('ih-2', IH_ROLE);
    assert.throws(
      () =>
        enrollDevice({
          device: dev,
          hubs: [
            { hub: ih2, dbPath: ihDb },
            { hub: sh, dbPath: join(dir, 'sh.db') },
          ],
          deviceKeys: 'k',
        }),
      /belongs to hub ih-1/,
    );
  });

  it('enrols a device without an mm key for the device instance only', () => {
    const dir = tempDir();
    const secrets = newDeviceKeys('pi-2', [], { mm: false });
    assert.equal(secrets.mm, undefined);
    writeDeviceKeysFile(join(dir, 'pi-2.keys.json'), secrets);
    writeDevicePublicFile(join(dir, 'pi-2.pub.json'), devicePublicKeys(secrets));
    const fromSecret = readDeviceKeysFile(join(dir, 'pi-2.keys.json'));
    assert.equal(fromSecret.mm, undefined);
    assert.throws(
      () => requireMmKey(fromSecret, 'pi-2.keys.json'),
      (e: unknown) => e instanceof KeyFileError && /pi-2\.keys\.json: device pi-2 has no mm key/.test(e.message),
    );
    const pub = readDevicePublicFile(join(dir, 'pi-2.pub.json'));
    // The secret file where the public one belongs is refused: enrolment is the hub side.
    assert.throws(
      () => readDevicePublicFile(join(dir, 'pi-2.keys.json')),
      (e: unknown) =>
        e instanceof KeyFileError &&
        e.message.includes(`pass ${join(dir, 'pi-2.pub.json')}`) &&
        /secret key file \(dominion\.device-keys\)/.test(e.message) &&
        !e.message.includes(hex(secrets.device)),
    );
    assert.deepEqual(
      pub.keys.map((k) => k.instance),
      ['device'],
    );

    const ih = newHubKey('ih-1', IH_ROLE);
    const ihDb = join(dir, 'ih.db');
    const result = enrollDevice({ device: pub, hubs: [{ hub: ih, dbPath: ihDb }], deviceKeys: 'pi-2.keys.json' });
    assert.deepEqual(
      result.placed.map((p) => p.instances),
      [['device']],
    );
    writeProvisioning(join(dir, 'p.json'), result.provisioning);
    assert.deepEqual(Object.keys(loadProvisioning(join(dir, 'p.json')).enrolled), ['device']);

    const store = SqliteHubStore.open({ path: ihDb });
    try {
      assert.deepEqual(store.registry.device('pi-2')?.instances, ['device']);
      assert.equal(store.registry.keyFor('pi-2', 'mm'), undefined);
    } finally {
      store.close();
    }
  });
});
