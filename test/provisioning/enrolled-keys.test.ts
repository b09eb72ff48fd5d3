/**
 * The device's start check (actors/provisioning/enrolled-keys.ts): its key file must hold the keys
 * the provisioning file's `enrolled` lists. Tested on the function and on `dominion device` as a
 * child process, which refuses to start (exit 1) before it looks at artifacts or a broker.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cryptoBackend, hex, keyIdOf } from '../../actors/crypto/index.ts';
import {
  checkEnrolledKeys,
  requireMmEnrolled,
  devicePublicKeys,
  EnrolledKeyError,
  loadProvisioning,
  newDeviceKeys,
  writeDeviceKeysFile,
  writeProvisioning,
  type DeviceKeyFile,
} from '../../actors/provisioning/index.ts';
import { newHubKey, serviceHubRole, IH_ROLE } from '../../actors/hub/index.ts';
import { tempDir } from '../hub/fixtures.ts';

const node = cryptoBackend('node');
const keyId = (seed: Uint8Array): string => hex(keyIdOf(node, node.publicKeyOf(seed)));
const cli = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** A provisioning file enrolling `enrolled`'s public keys, naming `keyFile` (written from `onDisk`) as the device's key file. */
function provisioned(dir: string, enrolled: DeviceKeyFile, onDisk: DeviceKeyFile): { provision: string; keysPath: string } {
  const keysPath = join(dir, 'pi.keys.json');
  writeDeviceKeysFile(keysPath, onDisk);
  const ih = newHubKey('ih-1', IH_ROLE);
  const services = Object.fromEntries(
    Object.keys(enrolled.services).map((s) => [s, { id: `sh-${s}`, publicKey: newHubKey(`sh-${s}`, serviceHubRole(s)).publicKey }]),
  );
  const provision = join(dir, 'pi.provision.json');
  writeProvisioning(provision, {
    deviceId: enrolled.deviceId,
    deviceKeys: 'pi.keys.json',
    ih: { id: ih.hubId, publicKey: ih.publicKey },
    services,
    enrolled: devicePublicKeys(enrolled).keys,
  });
  return { provision, keysPath };
}

function refusal(fn: () => void): EnrolledKeyError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EnrolledKeyError, String(err));
    return err;
  }
  assert.fail('expected an EnrolledKeyError');
}

describe('the device key file against the enrolled keys', () => {
  it('accepts the key file that was enrolled, with or without mm enrolled', () => {
    const dir = tempDir();
    const keys = newDeviceKeys('pi-1', ['sensor', 'cam']);
    const { provision, keysPath } = provisioned(dir, keys, keys);
    checkEnrolledKeys(loadProvisioning(provision), keys, keysPath, provision);

    const noMm = tempDir();
    const deviceOnly = newDeviceKeys('pi-1', ['sensor'], { mm: false });
    const p = provisioned(noMm, deviceOnly, deviceOnly);
    // mm not enrolled: a key file that has one anyway (made later for running mm) is not a mismatch.
    checkEnrolledKeys(loadProvisioning(p.provision), { ...deviceOnly, mm: keys.mm! }, p.keysPath, p.provision);
  });

  it('refuses a device whose mm was not enrolled: the IH could answer none of its requests', () => {
    const enrolled = tempDir();
    const keys = newDeviceKeys('pi-1', ['sensor']);
    const full = provisioned(enrolled, keys, keys);
    requireMmEnrolled(loadProvisioning(full.provision), full.provision);
    const noMm = tempDir();
    const deviceOnly = newDeviceKeys('pi-1', ['sensor'], { mm: false });
    const p = provisioned(noMm, deviceOnly, deviceOnly);
    const err = refusal(() => requireMmEnrolled(loadProvisioning(p.provision), p.provision));
    assert.equal(err.instance, 'mm');
    assert.match(err.message, /pi-1 was enrolled without an mm key, but every device runs mm/);
  });

  it('refuses a key file whose key differs from the enrolled one, naming the instance and both key ids', () => {
    const dir = tempDir();
    const enrolled = newDeviceKeys('pi-1', ['sensor']);
    const stale = { ...enrolled, services: { sensor: newDeviceKeys('pi-1', ['sensor']).services.sensor! } };
    const { provision, keysPath } = provisioned(dir, enrolled, stale);
    const err = refusal(() => checkEnrolledKeys(loadProvisioning(provision), stale, keysPath, provision));
    assert.equal(err.instance, 'sm:sensor');
    assert.equal(err.enrolledKeyId, keyId(enrolled.services.sensor!));
    assert.equal(err.keyFileKeyId, keyId(stale.services.sensor!));
    assert.match(err.message, /the sm:sensor key \(key id [0-9a-f]{32}\) is not the one the hubs enrolled for pi-1\/sm:sensor/);
    assert.ok(err.message.includes(err.enrolledKeyId!) && err.message.includes(err.keyFileKeyId!));
    assert.match(err.message, /use the key file that was enrolled, or enroll this one again/);
    for (const secret of [stale.device, stale.mm!, stale.services.sensor!, enrolled.services.sensor!])
      assert.ok(!err.message.includes(hex(secret)), 'no secret in the message');

    const otherDevice = { ...enrolled, device: newDeviceKeys('pi-1', []).device };
    assert.equal(refusal(() => checkEnrolledKeys(loadProvisioning(provision), otherDevice, keysPath, provision)).instance, 'device');
    const otherMm = { ...enrolled, mm: newDeviceKeys('pi-1', []).mm! };
    assert.equal(refusal(() => checkEnrolledKeys(loadProvisioning(provision), otherMm, keysPath, provision)).instance, 'mm');
  });

  it('refuses a key file that lacks an enrolled key, or is for another device', () => {
    const dir = tempDir();
    const enrolled = newDeviceKeys('pi-1', ['sensor']);
    const { provision, keysPath } = provisioned(dir, enrolled, enrolled);
    const prov = loadProvisioning(provision);
    const noSensor = refusal(() => checkEnrolledKeys(prov, { ...enrolled, services: {} }, keysPath, provision));
    assert.equal(noSensor.instance, 'sm:sensor');
    assert.equal(noSensor.keyFileKeyId, undefined);
    assert.match(noSensor.message, /has no sm:sensor key, but .* enrolled one for pi-1\/sm:sensor \(key id [0-9a-f]{32}\)/);
    const { mm: _mm, ...withoutMm } = enrolled;
    assert.equal(refusal(() => checkEnrolledKeys(prov, withoutMm, keysPath, provision)).instance, 'mm');
    const other = refusal(() => checkEnrolledKeys(prov, { ...enrolled, deviceId: 'pi-2' }, keysPath, provision));
    assert.match(other.message, /holds the keys of device pi-2, but .* is for pi-1/);
  });

  it('dominion device refuses to start with a stale key file: exit 1, the instance and both key ids', () => {
    const dir = tempDir();
    const enrolled = newDeviceKeys('pi-1', ['sensor']);
    const stale = newDeviceKeys('pi-1', ['sensor']);
    const { provision } = provisioned(dir, enrolled, stale);
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        cli,
        'device',
        '--board',
        'sim',
        '--provision',
        provision,
        '--release-pub',
        'ab'.repeat(32),
        '--broker',
        'mqtt://127.0.0.1:1',
        '--artifacts',
        join(dir, 'no-artifacts'),
        '--data-dir',
        join(dir, 'data'),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(run.status, 1, run.stderr);
    // One JSON error record on a pipe (docs/ARCHITECTURE.md §7.3).
    const record = JSON.parse(run.stderr.trim().split('\n').at(-1)!) as { level: string; component: string; msg: string };
    assert.equal(record.level, 'error');
    assert.match(record.component, /^device /);
    assert.match(record.msg, /^refusing to start: .*pi\.keys\.json: the device key \(key id [0-9a-f]{32}\)/);
    assert.ok(run.stderr.includes(keyId(enrolled.device)) && run.stderr.includes(keyId(stale.device)), run.stderr);
    assert.ok(!run.stderr.includes(hex(stale.device)), 'no secret on stderr');
    assert.equal(run.stdout, '', 'nothing started');
  });
});
