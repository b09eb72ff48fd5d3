/**
 * The one device assembly (actors/device/assemble.ts): every domain-level rule in one place, the
 * same for every placement — priorities and restart strategies, which hub dominates what, what a
 * domain giving up costs, the keys and pins each VM needs, where each domain keeps its data.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { ActorSystem, ManualClock } from '../../runtime/index.ts';
import {
  checkKeys,
  dataDirs,
  DeviceConfigError,
  imageOptions,
  onGiveUp,
  openDomain,
  receiverRoutes,
} from '../../actors/device/assemble.ts';
import { demoFleet, Device, DirectHubLink, timingFor } from '../../actors/device/index.ts';
import { sensorService } from '../../actors/sm/index.ts';

const pins = {
  ih: { id: 'ih-1', publicKey: new Uint8Array(32) },
  services: { sensor: { id: 'sh-sensor', publicKey: new Uint8Array(32) }, cam: { id: 'sh-cam', publicKey: new Uint8Array(32) } },
};

test('domains open under their labels, and only those; mm and its image restart one-for-all', () => {
  const system = new ActorSystem({ clock: new ManualClock(0), drain: 'manual' });
  const opened = ['sm:cam', 'mm', 'hypervisor', 'sw'].map((label) => openDomain(system, label));
  assert.deepEqual(
    opened.map((d) => d.path),
    ['sm:cam', 'mm', 'hypervisor', 'sw'],
  );
  assert.deepEqual(imageOptions('mm'), { strategy: 'one-for-all' });
  assert.deepEqual(imageOptions('sm:cam'), {});
  assert.throws(() => openDomain(system, 'net'), /no domain "net"/);
});

test('routes: device and mm answer to the IH, each service to its own SH', () => {
  assert.deepEqual(receiverRoutes(pins, ['sensor', 'cam']), [
    { instance: 'device', hubId: 'ih-1' },
    { instance: 'mm', hubId: 'ih-1' },
    { instance: 'sm:sensor', hubId: 'sh-sensor' },
    { instance: 'sm:cam', hubId: 'sh-cam' },
  ]);
  assert.throws(
    () => receiverRoutes(pins, ['radio']),
    (e: unknown) => e instanceof DeviceConfigError && /radio/.test(e.message),
  );
});

test('giving up: sw or the hypervisor resets the device; a VM is booted again from its image', () => {
  assert.deepEqual(['sw', 'hypervisor', 'mm', 'sm:sensor'].map(onGiveUp), ['reset-device', 'reset-device', 'reboot-vm', 'reboot-vm']);
});

test('keys: mm needs K_MM, each service its K_SM and a pinned SH — checked before anything boots', () => {
  const k = new Uint8Array(32);
  checkKeys(['sensor'], { mm: k, services: { sensor: k } }, pins);
  assert.throws(
    () => checkKeys(['sensor'], { services: { sensor: k } }, pins),
    (e: unknown) => e instanceof DeviceConfigError && /no K_MM key/.test(e.message),
  );
  assert.throws(
    () => checkKeys(['radio'], { mm: k, services: { radio: k } }, pins),
    /service "radio" needs a K_SM key and a pinned service hub; the device has no pinned hub/,
  );
  assert.throws(() => checkKeys(['cam'], { mm: k, services: {} }, pins), /service "cam" needs .* the device has no key/);
});

test('data: sw/ and sm-<service>/ under the device data directory', () => {
  assert.equal(dataDirs.sw('/var/lib/dominion'), join('/var/lib/dominion', 'sw'));
  assert.equal(dataDirs.service('/var/lib/dominion', 'sensor'), join('/var/lib/dominion', 'sm-sensor'));
});

test("mm's one-for-all reaches its actors: when the forwarder fails, the receiver and uplink restart with it", () => {
  const clock = new ManualClock(0);
  const fleet = demoFleet({ deviceId: 'pi-1', services: ['sensor'], deferralMs: 3000 });
  let failures = 1;
  const link = new DirectHubLink({
    deviceId: 'pi-1',
    hubs: new Map([
      [fleet.ih.id, (b: Uint8Array) => fleet.ih.core.handleRequest(b, clock.now()).reply],
      [fleet.sh.get('sensor')!.id, (b: Uint8Array) => fleet.sh.get('sensor')!.core.handleRequest(b, clock.now()).reply],
    ]),
    onService: () => {
      if (failures-- > 0) throw new Error('the link failed under the forwarder');
    },
  });
  const device = new Device({
    deviceId: 'pi-1',
    firmwareVersion: '1.0.0',
    keys: fleet.keys,
    hubs: fleet.pins,
    timing: timingFor(1000),
    services: [sensorService({ periodMs: 1000 })],
    dataDir: mkdtempSync(join(tmpdir(), 'dominion-assemble-')),
    openLink: () => link,
    clock,
    drain: 'manual',
    jitter: () => 0.5,
  });
  device.boot();
  clock.advance(2500); // the sensor publishes; the first publish fails the forwarder
  const restarts = (name: string): number =>
    device.system!.stats().find((s) => s.path.startsWith('mm/') && s.path.endsWith(`/${name}`))!.restarts;
  assert.ok(failures < 0, 'the forwarder met the failing link');
  assert.deepEqual(['forwarder', 'ticket-receiver', 'uplink'].map(restarts), [1, 1, 1]);
  clock.advance(3000);
  assert.equal(device.status.instances.find((i) => i.instance === 'mm')!.expiries, 0, 'mm keeps its tickets');
  device.shutdown();
});
