/**
 * How `sw` learns the VMs' images for its boot request where the hypervisor is another process
 * (actors/device/vm-preview.ts): it previews the hypervisor's bootloader on a scratch copy of the VMs'
 * boot state. The preview names exactly what the hypervisor then opens — a fresh install, a trial, a
 * tampered service held for a restore, a corrupt boot state rebuilt — and writes nothing: no try is
 * taken, no file moved. A hypervisor that opens other images than `sw` previewed refuses to boot.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareSlots, type SlottedImages } from '../../actors/device/index.ts';
import { deviceSlots, recoverBootState, slotPaths, vmLabels } from '../../actors/device/device-slots.ts';
import { hexBootImages, type HypervisorBootstrap } from '../../actors/device/process/bootstrap.ts';
import { openVmSlots } from '../../actors/device/process/hypervisor-slots.ts';
import { openVms } from '../../actors/device/slotted.ts';
import { previewVmImages } from '../../actors/device/vm-preview.ts';
import { bundleFile, verifyArtifacts } from '../../actors/release/index.ts';
import { buildBoard, type BuildResult } from '../../build/index.ts';
import { releaseKeyFile, tempDir } from './support.ts';

const root = tempDir('vm-preview');
let v1: BuildResult;
let v2: BuildResult;
let runs = 0;

before(async () => {
  const { file } = releaseKeyFile(root);
  v1 = await buildBoard({ board: 'sim', outDir: join(root, 'v1'), releaseKey: file, releaseVersion: 1 });
  v2 = await buildBoard({ board: 'sim', outDir: join(root, 'v2'), releaseKey: file, releaseVersion: 2 });
});
after(() => rmSync(root, { recursive: true, force: true }));

async function installed(): Promise<{ slotted: SlottedImages; dataDir: string }> {
  const dataDir = join(root, `data-${++runs}`);
  return { slotted: await prepareSlots(v1.dir, v1.releaseKey.publicKey, dataDir, { warn: () => {} }), dataDir };
}

/** What `sw` previews, then what the hypervisor's bootloader opens; and whether the preview wrote anything. */
function previewThenOpen({ slotted, dataDir }: { slotted: SlottedImages; dataDir: string }) {
  const { board, slots, releasePublicKey } = slotted;
  const statePath = slotPaths.vmState(dataDir);
  const before = readFileSync(statePath);
  const previewed = previewVmImages(slots.store, dataDir, vmLabels(board), releasePublicKey, board);
  const untouched = readFileSync(statePath).equals(before) && !existsSync(`${statePath}.corrupt`);
  // The hypervisor's process: a bootloader of its own over the same files.
  const vms = deviceSlots(dataDir, releasePublicKey, board).vms;
  recoverBootState(vms, () => {});
  const opened = openVms({ slots: vms, board, releasePublicKey, events: () => {}, now: () => 0 }).images;
  return { previewed, opened, untouched, vms };
}

const labelsOf = (images: ReadonlyArray<{ label: string; version: bigint }>) => images.map((i) => `${i.label}@${i.version}`);

test('a fresh install: the preview names every VM as the hypervisor opens it, and writes nothing', async () => {
  const r = previewThenOpen(await installed());
  assert.deepEqual(labelsOf(r.previewed), ['mm@1', 'sm:sensor@1']);
  assert.deepEqual(r.previewed, r.opened);
  assert.ok(r.untouched);
});

test('a trial: previewed without taking its try; the hypervisor takes it', async () => {
  const device = await installed();
  const vms = device.slotted.slots.vms;
  const verified = verifyArtifacts(v2.dir, v2.releaseKey.publicKey);
  vms.beginUpdate('mm', 2);
  vms.installUpdate(
    'mm',
    { manifest: verified.manifestBytes, signature: verified.signature, bundle: verified.files.get(bundleFile('mm'))! },
    2,
  );
  const before = vms.state().domains.mm!.trial?.triesLeft;
  const r = previewThenOpen(device);
  assert.deepEqual(labelsOf(r.previewed), ['mm@2', 'sm:sensor@1']);
  assert.deepEqual(r.previewed, r.opened);
  assert.ok(r.untouched, 'the preview took no try');
  assert.equal(r.vms.state().domains.mm!.trial?.triesLeft, before! - 1, 'the hypervisor took one');
});

test('a tampered service: left out of the preview, as the hypervisor holds it down for a restore', async () => {
  const device = await installed();
  const file = join(device.slotted.slots.store.slotDir('sm:sensor', 'a'), 'sm-sensor.mjs');
  const bytes = readFileSync(file);
  bytes[100] ^= 0xff;
  writeFileSync(file, bytes);
  const r = previewThenOpen(device);
  assert.deepEqual(labelsOf(r.previewed), ['mm@1']);
  assert.deepEqual(r.previewed, r.opened);
});

test('a corrupt VM boot state: the preview rebuilds it in memory only; the hypervisor rebuilds it on disk, to the same images', async () => {
  const device = await installed();
  writeFileSync(slotPaths.vmState(device.dataDir), '{"format":');
  const r = previewThenOpen(device);
  assert.deepEqual(labelsOf(r.previewed), ['mm@1', 'sm:sensor@1']);
  assert.deepEqual(r.previewed, r.opened);
  assert.ok(r.untouched, 'nothing moved aside by the preview');
  assert.ok(existsSync(`${slotPaths.vmState(device.dataDir)}.corrupt`), 'the hypervisor moved it aside');
});

test('a hypervisor whose slots open other images than sw previewed refuses to boot them', async () => {
  const { slotted, dataDir } = await installed();
  const { board, slots, releasePublicKey } = slotted;
  const previewed = previewVmImages(slots.store, dataDir, vmLabels(board), releasePublicKey, board);
  const b = { slots: slotPaths.slots(dataDir), dataDir, gate: hexBootImages.to(previewed) } as Pick<
    HypervisorBootstrap,
    'slots' | 'dataDir' | 'gate'
  > as HypervisorBootstrap;
  // Between sw's preview and the hypervisor's boot, the sensor's slot changes.
  const file = join(slots.store.slotDir('sm:sensor', 'a'), 'sm-sensor.mjs');
  writeFileSync(file, Buffer.from('tampered'));
  await assert.rejects(
    openVmSlots(b, board, releasePublicKey, { now: () => 0, labels: vmLabels(board) }),
    /the VMs' slots changed between sw's preview and this boot .*: not booting them/,
  );
});
