/**
 * Shared by the build tests: a release key file, builds into temp dirs, and a whole device composed
 * from *built bundles* in one process (`single` placement) — the reference for how a runner loads
 * and starts domain bundles:
 *
 *   1. loadArtifacts(dir, pinnedReleaseKey)  — verify, then import each bundle from verified bytes
 *   2. one ActorSystem (any bundle's runtime), one domain per trust domain
 *   3. channels built end by end from each bundle's own code (linkChannel)
 *   4. sw: beginBoot, createWatchdog, install, start — the device AWDT is armed first
 *   5. hypervisor: install with one VM slot per VM (its domain, image digest, the VM bundle's
 *      install, its key and hub), start, bootVms()
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../runtime/index.ts';
import { generateSecretKey, hex } from '../../actors/crypto/index.ts';
import { demoFleet, DirectHubLink, type DemoFleet } from '../../actors/device/index.ts';
import type { HubCore } from '../../actors/hub/index.ts';
import type { AwdtEvent } from '../../actors/tickets/index.ts';
import type { VmEvent } from '../../actors/hypervisor/index.ts';
import { linkChannel, readReleaseKey, type LoadedArtifacts, type ReleaseKey } from '../../build/index.ts';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `dominion-${prefix}-`));
}

/** A release key file (hex seed, mode 0600) in `dir`, and the key. */
export function releaseKeyFile(dir: string, name = 'release.key'): { file: string; key: ReleaseKey } {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `${hex(generateSecretKey())}\n`, { mode: 0o600 });
  return { file, key: readReleaseKey(file) };
}

export const DEVICE_ID = 'pi-0001';

export interface ComposedDevice {
  readonly clock: ManualClock;
  readonly fleet: DemoFleet;
  readonly events: Array<AwdtEvent | VmEvent>;
  readonly resets: Array<{ reason: number; detail: string }>;
  readonly published: Array<{ service: string; stream: string }>;
  readonly system: InstanceType<LoadedArtifacts['sw']['runtime']['ActorSystem']>;
  /** While offline, requests to the hubs are lost (a network outage). */
  setOnline(online: boolean): void;
  shutdown(): void;
}

/** Starts a device from loaded bundles under ManualClock, with the demo hubs reached in-process. */
export function composeSingle(loaded: LoadedArtifacts, dataDir: string): ComposedDevice {
  const board = loaded.board;
  const { sw: swMod, hypervisor: hypMod, mm: mmMod } = loaded;
  const clock = new ManualClock(0);
  const fleet = demoFleet({ deviceId: DEVICE_ID, services: board.services, deferralMs: board.timing.deferralMs });
  const hubs = new Map<string, (b: Uint8Array) => ReturnType<HubCore['handleRequest']>['reply']>([
    [fleet.ih.id, (b) => fleet.ih.core.handleRequest(b, clock.now()).reply],
    ...[...fleet.sh.values()].map((h) => [h.id, (b: Uint8Array) => h.core.handleRequest(b, clock.now()).reply] as const),
  ]);
  const published: ComposedDevice['published'] = [];
  let online = true;
  const link = new DirectHubLink({ deviceId: DEVICE_ID, hubs, online: () => online, onService: (service, stream) => published.push({ service, stream }) });

  const system = new swMod.runtime.ActorSystem({ clock, drain: 'manual' });
  clock.afterFire(() => system.runUntilIdle());
  const sw = system.domain('sw', { priority: 0 });
  const hyp = system.domain('hypervisor', { priority: 1 });
  const mm = system.domain('mm', { priority: 2, strategy: 'one-for-all' });
  const d = board.domains;
  const swHyp = linkChannel({ runtime: swMod.runtime, spec: swMod.channels.hypervisor, domain: sw }, { runtime: hypMod.runtime, spec: hypMod.channels.sw, domain: hyp }, d.sw.mailbox.inlet);
  const hypMm = linkChannel({ runtime: hypMod.runtime, spec: hypMod.channels.mm, domain: hyp }, { runtime: mmMod.runtime, spec: mmMod.channels.hypervisor, domain: mm }, d.mm.mailbox.inlet);
  const sms = board.services.map((name) => {
    const mod = loaded.services.get(name)!;
    const domain = system.domain(`sm:${name}`, { priority: 3 });
    const channel = linkChannel({ runtime: mmMod.runtime, spec: mmMod.channels.service(name), domain: mm }, { runtime: mod.runtime, spec: mod.channels.mm, domain }, d.sm.mailbox.inlet);
    return { name, mod, domain, channel };
  });

  const events: ComposedDevice['events'] = [];
  const resets: ComposedDevice['resets'] = [];
  const store = new swMod.FileStateStore(join(dataDir, 'sw'));
  const record = swMod.beginBoot(store);
  const { watchdog } = swMod.createWatchdog(board.watchdog, { clock, reboot: (reason, detail) => resets.push({ reason, detail }) });
  swMod.install({
    domain: sw,
    hypervisor: swHyp.a,
    deviceId: DEVICE_ID,
    firmwareVersion: loaded.verified.manifest.version,
    deviceKey: fleet.keys.device,
    infrastructureHub: fleet.pins.ih.publicKey,
    timing: board.timing,
    mailbox: d.sw.mailbox,
    record,
    store,
    manifestDigest: loaded.verified.manifestDigest,
    hypervisorImageDigest: loaded.digests.get('hypervisor')!,
    watchdog,
    events: (e) => events.push(e),
  });
  sw.start();

  const routes = [
    { instance: 'device', hubId: fleet.pins.ih.id },
    { instance: 'mm', hubId: fleet.pins.ih.id },
    ...board.services.map((s) => ({ instance: `sm:${s}`, hubId: fleet.pins.services[s]!.id })),
  ];
  const hv = hypMod.install({
    system,
    domain: hyp,
    sw: swHyp.b,
    mm: hypMm.a,
    deviceId: DEVICE_ID,
    timing: board.timing,
    mailbox: d.hypervisor.mailbox,
    events: (e) => events.push(e),
    vms: [
      {
        instance: 'mm',
        domain: mm,
        platformPaths: new Set([hypMm.b.inletPath, ...sms.map((s) => s.channel.a.inletPath)]),
        digest: loaded.digests.get('mm')!,
        install: (image) =>
          mmMod.install({
            image,
            hypervisor: hypMm.b,
            services: sms.map((s) => ({ name: s.name, endpoint: s.channel.a })),
            routes,
            timing: board.timing,
            mailbox: d.mm.mailbox,
            link: () => link,
            jitter: () => 0.5,
          }),
        key: fleet.keys.mm,
        hub: fleet.pins.ih.publicKey,
      },
      ...sms.map((s) => ({
        instance: `sm:${s.name}`,
        domain: s.domain,
        platformPaths: new Set([s.channel.b.inletPath]),
        digest: loaded.digests.get(`sm:${s.name}`)!,
        install: (image: Parameters<typeof s.mod.install>[0]['image']) =>
          void s.mod.install({ image, mm: s.channel.b, dataDir: join(dataDir, `sm-${s.name}`), mailbox: d.sm.mailbox, options: { periodMs: board.timing.intervalMs } }),
        key: fleet.keys.services[s.name]!,
        hub: fleet.pins.services[s.name]!.publicKey,
      })),
    ],
  });
  hyp.start();
  hv.bootVms();
  system.runUntilIdle();
  return {
    clock,
    fleet,
    events,
    resets,
    published,
    system,
    setOnline: (v) => void (online = v),
    shutdown: () => system.shutdown(),
  };
}
