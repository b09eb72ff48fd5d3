/**
 * The recovery loop on a bundled device in one process (`single` placement on slots), under
 * ManualClock with the demo hubs reached in-process: gated boot, a tampered service image restored
 * from its SH at the VM's next boot, an update of mm tried and committed at its first ticket, a
 * broken service release rolled back after its tries, and quarantine holding the device in recovery
 * mode. Real files, real bundles, real release signatures.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../runtime/index.ts';
import { nodeBackend } from '../../actors/crypto/index.ts';
import {
  BundledDevice,
  demoFleet,
  DirectHubLink,
  prepareSlots,
  publishRelease,
  slottedPlacement,
  VmSlotKeeper,
  type AssembledDevice,
  type DemoFleet,
  type DeviceEvent,
} from '../../actors/device/index.ts';
import { verifyArtifacts, type VerifiedArtifacts } from '../../actors/release/index.ts';
import { SlotStore } from '../../actors/slots/index.ts';
import type { HubCore, UpdateTarget } from '../../actors/hub/index.ts';
import { topics, UpdateState } from '../../proto/index.ts';
import { buildBoard, type BuildResult } from '../../build/index.ts';
import { brokenSensor } from '../../cli/up-device.ts';
import { releaseKeyFile, tempDir } from './support.ts';

const DEVICE = 'pi-slots';
const root = tempDir('slotted');
const built: { v1?: BuildResult; v2?: BuildResult; v3?: BuildResult } = {};
let releasePub: Uint8Array;

before(async () => {
  const { file, key } = releaseKeyFile(root);
  releasePub = key.publicKey;
  const build = (name: string, releaseVersion: number, serviceImages?: Record<string, string>) =>
    buildBoard({
      board: 'sim',
      outDir: join(root, name),
      releaseKey: file,
      releaseVersion,
      issuedAt: releaseVersion * 1000,
      serviceImages,
    });
  built.v1 = await build('v1', 1);
  built.v2 = await build('v2', 2);
  built.v3 = await build('v3', 3, { sensor: brokenSensor(root) });
});
after(() => rmSync(root, { recursive: true, force: true }));

interface Rig {
  readonly clock: ManualClock;
  readonly fleet: DemoFleet;
  readonly events: DeviceEvent[];
  readonly device: BundledDevice;
  readonly dataDir: string;
  /** Runs the device's actors until nothing is ready, letting file and import work finish. */
  settle(): Promise<void>;
  /** Advances simulated time in steps, settling after each. */
  run(ms: number, stepMs?: number): Promise<void>;
  running(): AssembledDevice;
}

let rigs = 0;

/** Sees each reply before the device does: return true to swallow it (a test keeps it to replay). */
type Intercept = (lane: string, envelope: Uint8Array) => boolean;

async function rig(intercept?: Intercept): Promise<Rig & { deliver(lane: string, envelope: Uint8Array): void }> {
  const v1 = built.v1!;
  const dataDir = join(root, `data-${++rigs}`);
  const clock = new ManualClock(0);
  const fleet = demoFleet({ deviceId: DEVICE, services: ['sensor'], deferralMs: v1.board.timing.deferralMs });
  for (const b of [built.v1!, built.v2!, built.v3!]) publishRelease(fleet, verifyArtifacts(b.dir, releasePub), 0);
  const handler = (core: HubCore) => (bytes: Uint8Array) => core.handleRequest(bytes, clock.now()).reply;
  let inject: ((lane: string, envelope: Uint8Array) => void) | undefined;
  const link = new DirectHubLink({
    deviceId: DEVICE,
    hubs: new Map([[fleet.ih.id, handler(fleet.ih.core)], ...[...fleet.sh.values()].map((h) => [h.id, handler(h.core)] as const)]),
    tamper: (lane, envelope, deliver) => {
      inject = deliver;
      if (intercept?.(lane, envelope) !== true) deliver(lane, envelope);
    },
  });
  const slotted = await prepareSlots(v1.dir, releasePub, dataDir);
  const events: DeviceEvent[] = [];
  const device = new BundledDevice(
    clock,
    slottedPlacement({
      slotted,
      deviceId: DEVICE,
      keys: fleet.keys,
      hubs: fleet.pins,
      link: () => link,
      clock,
      drain: 'manual',
      dataDir,
      jitter: () => 0.5,
    }),
    1000,
  );
  device.onEvent((e) => void events.push(e));
  const running = () => device.device as AssembledDevice;
  clock.afterFire(() => (device.device as AssembledDevice | null)?.system.runUntilIdle());
  const settle = async () => {
    // Installing an image verifies, writes and imports it off the actors' turns: wait for the import,
    // then let its result reach the actors (a few turns), before time moves on.
    for (let i = 0; i < 8; i++) {
      (device.device as AssembledDevice | null)?.system.runUntilIdle();
      await slotted.modules.idle();
      await new Promise((r) => setImmediate(r));
    }
  };
  device.boot();
  await settle();
  return {
    clock,
    fleet,
    events,
    device,
    dataDir,
    settle,
    running,
    deliver: (lane, envelope) => inject?.(lane, envelope),
    async run(ms, stepMs = 100) {
      for (let t = 0; t < ms; t += stepMs) {
        clock.advance(stepMs);
        await settle();
      }
    },
  };
}

const of = <T extends DeviceEvent['type']>(events: DeviceEvent[], type: T) =>
  events.filter((e): e is Extract<DeviceEvent, { type: T }> => e.type === type);

function updateTarget(b: BuildResult, fleet: DemoFleet, label: 'mm' | 'sm:sensor'): UpdateTarget {
  const verified: VerifiedArtifacts = verifyArtifacts(b.dir, releasePub);
  const hubId = label === 'mm' ? fleet.ih.id : fleet.sh.get('sensor')!.id;
  return {
    version: String(b.manifest.files[label === 'mm' ? 'mm.mjs' : 'sm-sensor.mjs']!.version),
    imageDigest: nodeBackend().sha512(verified.manifestBytes),
    fetchTopic: topics.hubRequestBase(hubId),
    sizeBytes: verified.files.get(label === 'mm' ? 'mm.mjs' : 'sm-sensor.mjs')!.length,
    releaseVersion: b.manifest.files[label === 'mm' ? 'mm.mjs' : 'sm-sensor.mjs']!.version!,
  };
}

test('gated boot: recovery mode runs mm alone until the IH grants the boot, then the services start', async () => {
  const r = await rig();
  const bootsBefore = of(r.events, 'vm-boot').map((e) => e.instance);
  assert.deepEqual(bootsBefore, ['mm'], 'only mm boots in recovery mode');
  assert.equal(of(r.events, 'recovery').length, 1);
  await r.run(2000);
  assert.equal(of(r.events, 'boot-granted').length, 1, 'the IH granted the boot');
  const sensorBoot = of(r.events, 'vm-boot').find((e) => e.instance === 'sm:sensor');
  const granted = of(r.events, 'boot-granted')[0]!;
  assert.ok(sensorBoot !== undefined && sensorBoot.at >= granted.at, 'the sensor boots after the grant');
  await r.run(3000);
  assert.ok(
    of(r.events, 'ticket').some((e) => e.instance === 'sm:sensor'),
    'the sensor is dominated',
  );
  assert.deepEqual(of(r.events, 'expired'), []);
  r.device.shutdown();
});

test('a tampered service image is restored from its SH at the VM’s next boot', async () => {
  const r = await rig();
  await r.run(3000);
  const store = new SlotStore(join(r.dataDir, 'slots'));
  const slot = join(store.slotDir('sm:sensor', 'a'), 'sm-sensor.mjs');
  const bytes = readFileSync(slot);
  bytes[100] ^= 0xff; // the attacker's persistent change
  writeFileSync(slot, bytes);
  r.running().restartVm('sm:sensor', { kind: 'timeout' });
  await r.settle();
  const held = of(r.events, 'vm-boot').find((e) => e.instance === 'sm:sensor' && e.held !== undefined);
  assert.ok(held, 'the VM is held down: its image does not verify');
  await r.run(2000);
  assert.ok(
    of(r.events, 'image').some((e) => e.instance === 'sm:sensor' && e.phase === 'restored'),
    'restored from the SH',
  );
  const restoredAt = of(r.events, 'image').find((e) => e.phase === 'restored')!.at;
  await r.run(3000);
  assert.ok(
    of(r.events, 'ticket').some((e) => e.instance === 'sm:sensor' && e.at > restoredAt),
    'the restored sensor gets tickets again',
  );
  r.device.shutdown();
});

test('an update of mm is tried and committed at its first ticket; the minimum version rises then', async () => {
  const r = await rig();
  await r.run(3000);
  r.fleet.ih.policy.requireUpdate(DEVICE, 'mm', updateTarget(built.v2!, r.fleet, 'mm'));
  await r.run(5000);
  const phases = of(r.events, 'image')
    .filter((e) => e.instance === 'mm')
    .map((e) => e.phase);
  assert.deepEqual(phases.slice(0, 2), ['fetching', 'installed']);
  r.fleet.ih.policy.clearUpdate(DEVICE, 'mm');
  await r.run(5000);
  const committed = of(r.events, 'slot').find((e) => e.label === 'mm' && e.what === 'committed');
  assert.ok(committed, 'mm v2 committed');
  assert.equal(committed.version, 2);
  r.device.shutdown();
});

test('a service release that crashes at start rolls back to the last good version after its tries', async () => {
  const r = await rig();
  await r.run(3000);
  r.fleet.sh.get('sensor')!.policy.requireUpdate(DEVICE, 'sm:sensor', updateTarget(built.v3!, r.fleet, 'sm:sensor'));
  await r.run(30_000, 250);
  const rolled = of(r.events, 'slot').find((e) => e.label === 'sm:sensor' && e.what === 'rolled-back');
  assert.ok(rolled, 'the broken release rolled back');
  assert.equal(rolled.version, 3);
  assert.equal(
    of(r.events, 'image').filter((e) => e.instance === 'sm:sensor' && e.phase === 'installed').length,
    1,
    'the rolled-back version is not fetched again',
  );
  void UpdateState;
  r.device.shutdown();
});

test('a firmware update (sw and hypervisor) resets into a trial and commits at the device’s first ticket', async () => {
  const r = await rig();
  await r.run(3000);
  const target = updateTarget(built.v2!, r.fleet, 'mm');
  const v2 = verifyArtifacts(built.v2!.dir, releasePub);
  r.fleet.ih.policy.requireUpdate(DEVICE, 'device', {
    ...target,
    fetchTopic: topics.hubRequestBase(r.fleet.ih.id),
    sizeBytes: v2.files.get('sw.mjs')!.length + v2.files.get('hypervisor.mjs')!.length,
  });
  await r.run(4000);
  const reset = of(r.events, 'reset').at(-1);
  assert.ok(reset, 'the device reset into the new firmware');
  assert.match(reset.detail, /firmware release 2 installed/);
  assert.deepEqual(
    of(r.events, 'slot')
      .filter((e) => e.what === 'trial')
      .map((e) => e.label),
    ['sw', 'hypervisor'],
    'the next boot runs both on trial',
  );
  await r.run(4000);
  const committed = of(r.events, 'slot').filter((e) => e.what === 'committed' && (e.label === 'sw' || e.label === 'hypervisor'));
  assert.deepEqual(
    committed.map((e) => [e.label, e.version]),
    [
      ['sw', 2],
      ['hypervisor', 2],
    ],
  );
  r.fleet.ih.policy.clearUpdate(DEVICE, 'device');
  await r.run(3000);
  assert.equal(of(r.events, 'reset').length, 1, 'no reset after the commit');
  r.device.shutdown();
});

test('a tampered sw image falls back to its second copy, which is then repaired', async () => {
  const r = await rig();
  await r.run(1000);
  r.device.shutdown();
  const store = new SlotStore(join(r.dataDir, 'slots'));
  const state = JSON.parse(readFileSync(join(r.dataDir, 'sw', 'boot-state.json'), 'utf8')) as {
    domains: Record<string, { active: 'a' | 'b' }>;
  };
  const file = join(store.slotDir('sw', state.domains.sw!.active), 'sw.mjs');
  const bytes = readFileSync(file);
  bytes[10] ^= 0x01;
  writeFileSync(file, bytes);
  r.device.boot();
  await r.run(3000);
  const fell = of(r.events, 'slot').find((e) => e.label === 'sw' && e.what === 'fell-back');
  assert.ok(fell, 'sw fell back to its other copy');
  assert.ok(of(r.events, 'boot-granted').length >= 2, 'and booted normally');
  assert.ok(
    store.verify('sw', 'a', releasePub, 'sim', 1 << 20).ok && store.verify('sw', 'b', releasePub, 'sim', 1 << 20).ok,
    'both copies good again',
  );
  r.device.shutdown();
});

test('a replayed UPDATE_REQUIRED is refused by the AWDT: nothing is fetched', async () => {
  let held: Uint8Array | undefined;
  let swallow = false;
  const r = await rig((lane, envelope) => {
    if (!swallow || lane !== 'sm:sensor') return false;
    held ??= envelope; // the hub's UPDATE_REQUIRED, kept by an attacker on the path
    return true;
  });
  await r.run(3000);
  swallow = true;
  r.fleet.sh.get('sensor')!.policy.requireUpdate(DEVICE, 'sm:sensor', updateTarget(built.v3!, r.fleet, 'sm:sensor'));
  await r.run(600);
  r.fleet.sh.get('sensor')!.policy.clearUpdate(DEVICE, 'sm:sensor');
  swallow = false;
  assert.ok(held !== undefined, 'an UPDATE_REQUIRED was captured');
  // Later (a new round, a new nonce; then after a reboot, too) the attacker replays it.
  await r.run(2000);
  const refusedBefore = of(r.events, 'refused').filter((e) => e.instance === 'sm:sensor').length;
  r.deliver('sm:sensor', held);
  await r.settle();
  r.running().restartVm('sm:sensor', { kind: 'timeout' });
  await r.run(1000);
  r.deliver('sm:sensor', held);
  await r.settle();
  assert.ok(of(r.events, 'refused').filter((e) => e.instance === 'sm:sensor').length >= refusedBefore + 2, 'both replays refused');
  assert.deepEqual(
    of(r.events, 'image').filter((e) => e.instance === 'sm:sensor'),
    [],
    'no fetch started',
  );
  r.device.shutdown();
});

test('the guarantee holds during an update: a hub that stops issuing still resets the device by t + D', async () => {
  const r = await rig();
  await r.run(3000);
  r.fleet.ih.policy.requireUpdate(DEVICE, 'mm', updateTarget(built.v2!, r.fleet, 'mm'));
  await r.run(200, 50);
  assert.ok(
    of(r.events, 'image').some((e) => e.instance === 'mm' && e.phase === 'fetching'),
    'an update is under way',
  );
  const lastTicket = of(r.events, 'ticket')
    .filter((e) => e.instance === 'device')
    .at(-1)!;
  const t = r.clock.now();
  r.fleet.ih.policy.withhold(DEVICE, 'device', 'the IH stops issuing');
  await r.run(built.v1!.board.timing.deferralMs + 1000, 50);
  const reset = of(r.events, 'reset').at(-1);
  assert.ok(reset !== undefined && reset.at > t, 'the device reset');
  assert.ok(reset.at <= lastTicket.deadline, `reset at ${reset.at}, the last ticket's deadline ${lastTicket.deadline}`);
  r.device.shutdown();
});

test('a power cut in the middle of a download boots the last good image; the update completes afterwards', async () => {
  let chunks = 0;
  let stall = true;
  // The network stalls after the first chunk: the download has begun and cannot finish.
  const r = await rig((lane) => lane === 'image.mm' && stall && ++chunks > 1);
  await r.run(3000);
  r.fleet.ih.policy.requireUpdate(DEVICE, 'mm', updateTarget(built.v2!, r.fleet, 'mm'));
  await r.run(200, 50);
  assert.ok(of(r.events, 'image').some((e) => e.instance === 'mm' && e.phase === 'fetching'));
  assert.ok(chunks >= 2, 'one chunk arrived, the next did not');
  assert.ok(!of(r.events, 'image').some((e) => e.instance === 'mm' && e.phase === 'installed'), 'not installed yet');
  r.device.shutdown();
  stall = false;
  const before = r.events.length;
  r.device.boot();
  await r.run(1000);
  const after = r.events.slice(before);
  const firstMmBoot = after.findIndex((e) => e.type === 'vm-boot' && e.instance === 'mm');
  const refetched = after.findIndex((e) => e.type === 'image' && e.instance === 'mm' && e.phase === 'fetching');
  const trial = after.findIndex((e) => e.type === 'slot' && e.label === 'mm' && e.what === 'trial');
  assert.ok(firstMmBoot >= 0 && refetched > firstMmBoot, 'mm boots its last good slot, then the demanded release is fetched again');
  assert.ok(trial === -1 || trial > refetched, 'the cut download switched nothing: a trial only after a complete fetch');
  await r.run(6000);
  const committed = of(r.events, 'slot').find((e) => e.label === 'mm' && e.what === 'committed');
  assert.ok(committed && committed.version === 2, 'the demanded update completed after the power came back');
  r.device.shutdown();
});

test('a corrupt boot state is said loudly at start and rebuilt from the slots that verify', async () => {
  const dataDir = join(root, 'data-corrupt');
  await prepareSlots(built.v1!.dir, releasePub, dataDir, { warn: () => {} });
  const path = join(dataDir, 'sw', 'boot-state.json');
  writeFileSync(path, '{"format": "dominion-boot-state/1", "domains": {"sw": 7}}');
  const said: string[] = [];
  const slotted = await prepareSlots(built.v1!.dir, releasePub, dataDir, { warn: (line) => void said.push(line) });
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(
    said[0]!,
    /^CORRUPT BOOT STATE .*sw\/boot-state\.json.*moved aside to .*boot-state\.json\.corrupt and rebuilt from the slots that verify: .*sw v1/,
  );
  assert.ok(existsSync(`${path}.corrupt`), 'kept for whoever investigates');
  assert.deepEqual([slotted.slots.sw.report('sw').version, slotted.slots.sw.report('hypervisor').version], [1, 1]);
});

test('an image is loaded before its slot is written: a VM that boots meanwhile boots its last good image', async () => {
  const slotted = await prepareSlots(built.v1!.dir, releasePub, join(root, 'data-load-first'), { warn: () => {} });
  let loaded: () => void = () => {};
  const keeper = new VmSlotKeeper({
    slots: slotted.slots.vms,
    board: 'sim',
    releasePublicKey: releasePub,
    maxBytes: () => 1 << 20,
    // An import that takes its time (a loaded machine): the install waits for it.
    load: () => new Promise<void>((resolve) => (loaded = resolve)),
    now: () => 0,
  });
  const v2 = verifyArtifacts(built.v2!.dir, releasePub);
  const image = { manifest: v2.manifestBytes, signature: v2.signature, bundle: v2.files.get('sm-sensor.mjs')! };
  keeper.updating('sm:sensor', 2);
  const installing = keeper.install('sm:sensor', image, 'update', 2);
  // The VM's AWDT expires now: it boots what its slots held before, not a trial whose code is not loaded.
  assert.deepEqual(keeper.check('sm:sensor'), { kind: 'boot' });
  assert.equal(keeper.running('sm:sensor')!.image.version, 1);
  loaded();
  assert.equal(await installing, undefined);
  assert.deepEqual(keeper.check('sm:sensor'), { kind: 'boot' });
  assert.deepEqual([keeper.running('sm:sensor')!.image.version, keeper.running('sm:sensor')!.trial], [2, true]);
});
