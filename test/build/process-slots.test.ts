/**
 * The recovery loop in `process` placement, with real processes (each domain its own, as its own user
 * where the tests run as root) and the hubs on an embedded broker: gated boot (the services start only
 * once the IH grants the boot), a tampered service slot restored from its SH at the VM's next boot, an
 * update of `mm` tried and committed at its first ticket, and a firmware update that resets into a
 * trial of `sw` and the hypervisor — the hypervisor's process loaded from its new slot. Every wait is
 * for a line the device prints, bounded; nothing sleeps.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { nodeBackend } from '../../actors/crypto/index.ts';
import type { UpdateTarget } from '../../actors/hub/index.ts';
import { verifyArtifacts } from '../../actors/release/index.ts';
import { SlotStore } from '../../actors/slots/index.ts';
import { topics } from '../../proto/index.ts';
import { domainUsers } from '../../actors/device/index.ts';
import { asDomainUser, childrenOf, deviceFixture, startDevice, ticketFor, type DeviceUnderTest } from './processes.ts';

const DEVICE = 'pi-proc-slots';
// Release 2 of every image too, signed with the same key; the hubs serve both releases.
const fx = deviceFixture('process', DEVICE, { releases: [2] });
let runs = 0;

/** The device on a fresh data directory (its first start installs release 1 into its slots). */
function start(): { device: DeviceUnderTest; dataDir: string } {
  const dataDir = join(fx.root, `data-${++runs}`);
  return { device: startDevice(fx.built, fx.hubs.provision, dataDir, { sameUser: !fx.withUsers }), dataDir };
}

async function stop(device: DeviceUnderTest): Promise<void> {
  if (device.child.exitCode !== null) return;
  device.child.kill('SIGTERM');
  await device.exited;
}

const line = (text: string) => (l: string) => l.includes(text);

/**
 * Who reaches which slots (actors/device/slot-access.ts), tried as each domain's user after the
 * hypervisor restored the sensor into `restored`: each VM reads its own slots and nothing else, the
 * hypervisor writes the VMs' and only reads its own, and no one but root gets at `sw`'s.
 */
function slotAccess(dataDir: string, restored: 'a' | 'b'): void {
  const users = domainUsers(fx.board);
  const slots = join(dataDir, 'slots');
  const code = (tries: Record<string, string>) => `
    const fs = require('node:fs');
    const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
    console.log(JSON.stringify({ ${Object.entries(tries)
      .map(([what, body]) => `${JSON.stringify(what)}: attempt(() => ${body})`)
      .join(', ')} }));`;
  const as = (label: string, tries: Record<string, string>) => asDomainUser(users[label]!.uid, users[label]!.gid, code(tries));
  const path = (...p: string[]) => JSON.stringify(join(...p));
  assert.deepEqual(
    as('sm:sensor', {
      'its restored slot': `fs.readFileSync(${path(slots, 'sm-sensor', restored, 'sm-sensor.mjs')})`,
      "mm's slots": `fs.readdirSync(${path(slots, 'mm')})`,
      "the hypervisor's slots": `fs.readdirSync(${path(slots, 'hypervisor')})`,
      'the VM boot state': `fs.readFileSync(${path(dataDir, 'hypervisor', 'boot-state.json')})`,
      'write its slots': `fs.writeFileSync(${path(slots, 'sm-sensor', 'x')}, 'x')`,
    }),
    {
      'its restored slot': 'ok',
      "mm's slots": 'EACCES',
      "the hypervisor's slots": 'EACCES',
      'the VM boot state': 'EACCES',
      'write its slots': 'EACCES',
    },
  );
  assert.deepEqual(
    as('mm', {
      "the sensor's slots": `fs.readdirSync(${path(slots, 'sm-sensor')})`,
      'its own': `fs.readdirSync(${path(slots, 'mm', 'a')})`,
    }),
    { "the sensor's slots": 'EACCES', 'its own': 'ok' },
  );
  assert.deepEqual(
    as('hypervisor', {
      'its own slot': `fs.readFileSync(${path(slots, 'hypervisor', 'a', 'hypervisor.mjs')})`,
      'write its own slots': `fs.writeFileSync(${path(slots, 'hypervisor', 'x')}, 'x')`,
      "sw's slots": `fs.readdirSync(${path(slots, 'sw')})`,
      "sw's boot state": `fs.readFileSync(${path(dataDir, 'sw', 'boot-state.json')})`,
      "the VMs' slots": `(fs.writeFileSync(${path(slots, 'mm', 'probe')}, 'x'), fs.unlinkSync(${path(slots, 'mm', 'probe')}))`,
    }),
    {
      'its own slot': 'ok',
      'write its own slots': 'EACCES',
      "sw's slots": 'EACCES',
      "sw's boot state": 'EACCES',
      "the VMs' slots": 'ok',
    },
  );
}

/** The hub demand that `label` (of release 2) runs: as `dominion require-update --release 2` sets it. */
function updateTo(label: 'mm' | 'device'): UpdateTarget {
  const v2 = fx.release(2);
  const verified = verifyArtifacts(v2.dir, v2.releaseKey.publicKey);
  const files = label === 'mm' ? ['mm.mjs'] : ['sw.mjs', 'hypervisor.mjs'];
  return {
    version: '2',
    imageDigest: nodeBackend().sha512(verified.manifestBytes),
    fetchTopic: topics.hubRequestBase(fx.hubs.fleet.ih.id),
    sizeBytes: files.reduce((n, f) => n + verified.files.get(f)!.length, 0),
    releaseVersion: 2,
  };
}

test('gated boot: while the IH withholds the boot only mm runs; the services start once it grants it', async () => {
  const registry = fx.hubs.fleet.ih.registry!;
  registry.setState(DEVICE, 'quarantined');
  const { device } = start();
  try {
    await device.waitFor(line('boot WITHHELD by the IH (QUARANTINED)'), 'the boot withheld', 60_000, { seen: true });
    // Held in recovery mode, the device and its mm keep their tickets: the device is not reset.
    await device.waitFor(ticketFor('device'), 'a device ticket in recovery mode', 30_000, { seen: true });
    await device.waitFor(ticketFor('mm'), 'an mm ticket in recovery mode', 30_000, { seen: true });
    const [hypervisor] = childrenOf(device.child.pid!);
    assert.ok(hypervisor !== undefined, 'the hypervisor runs');
    assert.deepEqual(
      childrenOf(hypervisor.pid).map((v) => v.cmdline.at(-1)),
      ['mm'],
      'recovery mode: the hypervisor has started mm and no service',
    );
    assert.ok(!device.lines.some(ticketFor('sm:sensor')), 'no service ticket before the grant');

    registry.setState(DEVICE, 'active');
    const granted = await device.waitFor(line('boot granted by the IH'), 'the boot granted', 30_000, { seen: true });
    const sensor = await device.waitFor(ticketFor('sm:sensor'), 'a service ticket after the grant', 30_000, { seen: true });
    assert.ok(device.lines.indexOf(sensor) > device.lines.indexOf(granted), 'the service starts after the grant');
    assert.deepEqual(
      childrenOf(hypervisor.pid)
        .map((v) => v.cmdline.at(-1))
        .sort(),
      ['mm', 'sm:sensor'],
    );
    assert.ok(!device.lines.some(line('DEVICE RESET')), device.lines.join('\n'));
  } finally {
    registry.setState(DEVICE, 'active');
    await stop(device);
  }
});

test('a tampered service slot is restored from its SH at the VM’s next boot, and the service is dominated again', async () => {
  const { device, dataDir } = start();
  try {
    await device.waitFor(ticketFor('sm:sensor'), 'the service running', 60_000, { seen: true });
    const state = JSON.parse(readFileSync(join(dataDir, 'hypervisor', 'boot-state.json'), 'utf8')) as {
      domains: Record<string, { active: 'a' | 'b' }>;
    };
    const active = state.domains['sm:sensor']!.active;
    const file = join(new SlotStore(join(dataDir, 'slots')).slotDir('sm:sensor', active), 'sm-sensor.mjs');
    const bytes = readFileSync(file);
    bytes[100] ^= 0xff; // an attacker's persistent change to the service's image
    writeFileSync(file, bytes);

    const held = device.waitFor(line('sm:sensor held down: its image must be restored first'), 'the service held down', 30_000);
    const restored = device.waitFor(line('sm:sensor: restore restored (version 1)'), 'the image restored', 60_000);
    const rebooted = device.waitFor(line('sm:sensor booted again from its clean image'), 'the service booted from it', 60_000);
    // Its next boot: the process ends (here: killed), the hypervisor boots it again and finds the slot tampered.
    const [hypervisor] = childrenOf(device.child.pid!);
    const sm = childrenOf(hypervisor!.pid).find((v) => v.cmdline.at(-1) === 'sm:sensor')!;
    process.kill(sm.pid, 'SIGKILL');
    await held;
    await restored;
    const boot = await device.waitFor(line('from its restored image'), 'the boot on the restored image', 30_000, { seen: true });
    await rebooted;
    await device.waitFor(ticketFor('sm:sensor'), 'a ticket for the restored service', 30_000);
    assert.ok(device.lines.indexOf(boot) >= 0);
    assert.ok(!device.lines.some(line('DEVICE RESET')), device.lines.join('\n'));
    if (fx.withUsers) slotAccess(dataDir, active === 'a' ? 'b' : 'a');
  } finally {
    await stop(device);
  }
});

test('an update of mm is tried in its own process and committed at its first ticket', async () => {
  const { ih } = fx.hubs.fleet;
  const { device } = start();
  try {
    await device.waitFor(ticketFor('mm'), 'mm running', 60_000, { seen: true });
    const installed = device.waitFor(line('mm: update installed (version 2)'), 'mm release 2 installed', 60_000);
    const trial = device.waitFor(line('mm: trial version 2'), 'mm booted on trial', 60_000);
    const committed = device.waitFor(line('mm: committed version 2'), 'mm release 2 committed', 90_000);
    ih.policy.requireUpdate(DEVICE, 'mm', updateTo('mm'));
    await installed;
    await trial;
    await committed;
    ih.policy.clearUpdate(DEVICE, 'mm');
    await device.waitFor(ticketFor('mm'), 'mm dominated on release 2', 30_000);
    assert.ok(!device.lines.some(line('DEVICE RESET')), device.lines.join('\n'));
  } finally {
    ih.policy.clearUpdate(DEVICE, 'mm');
    await stop(device);
  }
});

test('a firmware update resets into a trial of sw and the hypervisor (its process on its new slot), committed at the first device ticket', async () => {
  const { ih } = fx.hubs.fleet;
  const { device } = start();
  try {
    await device.waitFor(ticketFor('device'), 'the device running', 60_000, { seen: true });
    const reset = device.waitFor(line('firmware release 2 installed'), 'the reset into release 2', 90_000);
    const committed = device.waitFor(line('hypervisor: committed version 2'), 'the firmware committed', 120_000);
    ih.policy.requireUpdate(DEVICE, 'device', updateTo('device'));
    await reset;
    await device.waitFor(line('sw: trial version 2'), 'sw on trial', 30_000, { seen: true });
    await device.waitFor(line('hypervisor: trial version 2'), 'the hypervisor on trial', 30_000, { seen: true });
    await committed;
    await device.waitFor(line('sw: committed version 2'), 'sw committed', 1000, { seen: true });
    ih.policy.clearUpdate(DEVICE, 'device');
    await device.waitFor(ticketFor('sm:sensor'), 'the services dominated on the new firmware', 60_000);
    assert.equal(device.lines.filter(line('DEVICE RESET')).length, 1, 'one reset, into the new firmware');
  } finally {
    ih.policy.clearUpdate(DEVICE, 'device');
    await stop(device);
  }
});
