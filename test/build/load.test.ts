/**
 * The built artifacts can be loaded and run: verified, imported from their verified bytes, and
 * composed into a device whose three ticket loops (device, mm, sm:sensor) run on the bundles alone.
 * A tampered artifact is refused before anything is imported.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBoard, type BuildResult } from '../../build/index.ts';
import { importBytes, loadArtifacts } from '../../actors/device/index.ts';
import { ArtifactError } from '../../actors/release/index.ts';
import { ENTRY_ABI } from '../../actors/images/common.ts';
import { composeSingle, releaseKeyFile, tempDir } from './support.ts';
import { ResetReason } from '../../proto/index.ts';

const root = tempDir('load');
after(() => rmSync(root, { recursive: true, force: true }));
let built: BuildResult;

before(async () => {
  const { file } = releaseKeyFile(root);
  built = await buildBoard({ board: 'sim', outDir: join(root, 'dist'), releaseKey: file });
});

test('loadArtifacts verifies and imports every bundle with the entry ABI', async () => {
  const loaded = await loadArtifacts(built.dir, built.releaseKey.publicKey);
  assert.equal(loaded.board.id, 'sim');
  const images = loaded.images;
  assert.equal(images.sw.DOMAIN, 'sw');
  assert.equal(images.hypervisor.DOMAIN, 'hypervisor');
  assert.equal(images.mm.DOMAIN, 'mm');
  assert.deepEqual([...images.services.keys()], ['sensor']);
  assert.equal(images.services.get('sensor')!.SERVICE, 'sensor');
  for (const m of [images.sw, images.hypervisor, images.mm, images.services.get('sensor')!]) {
    assert.equal(m.ENTRY_ABI, ENTRY_ABI);
    assert.equal(typeof m.install, 'function');
    assert.equal(typeof m.runtime.ActorSystem, 'function');
  }
  assert.equal(Buffer.from(images.digests.get('mm')!).toString('hex'), built.manifest.files['mm.mjs']!.sha512);
});

test('a device made of the built bundles gets tickets for device, mm and sm:sensor', async () => {
  const loaded = await loadArtifacts(built.dir, built.releaseKey.publicKey);
  const device = composeSingle(loaded, join(root, 'data'));
  try {
    const t = loaded.board.timing;
    device.clock.advance(3 * t.intervalMs);
    const tickets = device.events.filter((e) => e.type === 'ticket');
    for (const instance of ['device', 'mm', 'sm:sensor']) {
      assert.ok(
        tickets.some((e) => 'instance' in e && e.instance === instance),
        `a ticket for ${instance}; events: ${device.events.map((e) => `${e.type}:${'instance' in e ? e.instance : ''}`).join(' ')}`,
      );
    }
    assert.equal(device.events.filter((e) => e.type === 'refused' || e.type === 'withheld').length, 0);
    assert.ok(
      device.published.some((p) => p.service === 'sensor' && p.stream === 'readings'),
      'the sensor publishes through mm',
    );
    // Tickets keep coming: nothing expires over many deferrals.
    device.clock.advance(10 * t.deferralMs);
    assert.equal(device.events.filter((e) => e.type === 'expired').length, 0);
    assert.equal(device.resets.length, 0);

    // The network goes: no ticket arrives, the device AWDT expires within its last deferral, and the
    // watchdog resets the device with the reason recorded first.
    device.setOnline(false);
    const cut = device.clock.now();
    device.clock.advance(t.maxDeferralMs);
    assert.equal(device.resets.length, 1);
    assert.equal(device.resets[0]!.reason, 2 /* TICKET_TIMEOUT */);
    const expiry = device.events.find((e) => e.type === 'expired' && e.instance === 'device');
    assert.ok(expiry !== undefined && expiry.at - cut <= t.deferralMs, 'reset within one deferral of the last ticket');
    const saved = JSON.parse(readFileSync(join(root, 'data', 'sw', 'device-state.json'), 'utf8')) as {
      lastResetReason: number;
      bootCount: number;
    };
    assert.deepEqual([saved.bootCount, saved.lastResetReason], [1, 2]);
  } finally {
    device.shutdown();
  }
});

test('a tampered bundle is refused before anything is imported', async () => {
  const dir = join(root, 'tampered');
  cpSync(built.dir, dir, { recursive: true });
  const file = join(dir, 'hypervisor.mjs');
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0x01;
  writeFileSync(file, bytes);
  await assert.rejects(
    loadArtifacts(dir, built.releaseKey.publicKey),
    (e: unknown) => e instanceof ArtifactError && e.code === 'digest-mismatch' && e.file === 'hypervisor.mjs',
  );
});

test('a bundle runs from its bytes alone, wherever it came from', async () => {
  const bytes = new Uint8Array(readFileSync(join(built.dir, 'mm.mjs')));
  const m = await importBytes<{ DOMAIN: string; MqttHubLink: unknown }>(bytes);
  assert.equal(m.DOMAIN, 'mm');
  assert.equal(typeof m.MqttHubLink, 'function', 'MQTT.js (CommonJS inside) loads from a data: URL');
});

test('a VM domain that gives up after repeated failures is booted again from its image; the device goes on', async () => {
  const loaded = await loadArtifacts(built.dir, built.releaseKey.publicKey);
  const device = composeSingle(loaded, join(root, 'data-escalation'));
  try {
    device.clock.advance(loaded.board.timing.intervalMs);
    const sm = device.system.getDomain('sm:sensor')!;
    // Something in the service's domain fails on every message, past the domain's restart intensity.
    const crasher = sm.spawn<number>({
      name: 'crasher',
      capacity: 8,
      start: () => ({
        receive: () => {
          throw new Error('boom');
        },
      }),
    });
    for (let i = 0; i < 8; i++) {
      crasher.offer(i); // a restart starts the actor afresh, so one message per turn
      device.system.runUntilIdle();
    }
    const reboot = device.events.find((e) => e.type === 'vm-boot' && e.instance === 'sm:sensor' && e.boots === 2);
    assert.ok(
      reboot !== undefined && reboot.type === 'vm-boot' && reboot.cause?.kind === 'escalated',
      JSON.stringify(device.events.filter((e) => e.type === 'vm-boot')),
    );
    assert.ok(!device.system.stats().some((s) => s.path.endsWith('/crasher') && s.state === 'running'), 'the failing actor is gone');
    device.clock.advance(2 * loaded.board.timing.intervalMs);
    assert.ok(
      device.events.some((e) => e.type === 'ticket' && e.instance === 'sm:sensor' && e.at > reboot.at),
      'the rebooted service gets tickets again',
    );
    assert.equal(device.resets.length, 0, 'a VM giving up does not reset the device');
  } finally {
    device.shutdown();
  }
});

test('sw giving up after repeated failures resets the device, and the reason is recorded for the next boot', async () => {
  const loaded = await loadArtifacts(built.dir, built.releaseKey.publicKey);
  const dataDir = join(root, 'data-sw-escalation');
  const device = composeSingle(loaded, dataDir);
  try {
    const sw = device.system.getDomain('sw')!;
    const crasher = sw.spawn<number>({
      name: 'crasher',
      capacity: 8,
      start: () => ({
        receive: () => {
          throw new Error('boom');
        },
      }),
    });
    for (let i = 0; i < 8; i++) {
      crasher.offer(i); // a restart starts the actor afresh, so one message per turn
      device.system.runUntilIdle();
    }
    assert.deepEqual(
      device.resets.map((r) => r.reason),
      [ResetReason.CHECK_FAILED],
    );
    const saved = JSON.parse(readFileSync(join(dataDir, 'sw', 'device-state.json'), 'utf8')) as {
      lastResetReason: number;
      lastResetDetail: string;
    };
    assert.equal(saved.lastResetReason, ResetReason.CHECK_FAILED);
    assert.match(saved.lastResetDetail, /sw gave up after repeated failures/);
  } finally {
    device.shutdown();
  }
});
