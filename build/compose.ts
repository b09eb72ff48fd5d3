/**
 * A whole device started from *verified bundles* in one process (`single` placement) — what
 * `dominion device` runs. The order is ARCHITECTURE.md §5's: `sw` first (the device AWDT armed before
 * anything else runs), then the hypervisor, which arms each VM's AWDT and boots the VMs from their
 * images. Every domain's actors come from its own bundle; channels are built end by end from each
 * bundle's own code.
 */
import { join } from 'node:path';
import type { ChannelEndpoint, Clock, Supervisor } from '../runtime/index.ts';
import type { BoardProfile } from '../boards/index.ts';
import { ResetReason } from '../proto/index.ts';
import type { DeviceKeys, HubPins } from '../actors/device/index.ts';
import type { RebootCause, VmEvent } from '../actors/hypervisor/index.ts';
import type { WatchdogBackend } from '../actors/sw/index.ts';
import type { HubLink, MqttLinkOptions } from '../actors/mm/index.ts';
import type { AwdtEvent } from '../actors/tickets/index.ts';
import { linkChannel, type LoadedArtifacts, type SwModule } from './load.ts';

export interface ComposeOptions {
  readonly loaded: LoadedArtifacts;
  readonly deviceId: string;
  /** The device's secret keys: K_I goes to `sw`, K_MM and K_SM_k to the hypervisor. */
  readonly keys: DeviceKeys;
  /** Hub ids and public keys pinned at provisioning. */
  readonly hubs: HubPins;
  /** `mm`'s uplink: an MQTT broker, or a link factory (simulations, tests). */
  readonly link: MqttLinkOptions | (() => HubLink);
  readonly clock: Clock;
  readonly drain?: 'auto' | 'manual';
  /** Root of persistent state: `sw/` and `sm-<service>/`. */
  readonly dataDir: string;
  /** Simulated watchdog: what a reset does (the runner tears down and boots again). */
  readonly reboot: (reason: ResetReason, detail: string) => void;
  readonly events?: (e: AwdtEvent | VmEvent) => void;
  readonly jitter?: () => number;
}

export type ComposedSystem = InstanceType<LoadedArtifacts['sw']['runtime']['ActorSystem']>;

export interface ComposedDevice {
  readonly system: ComposedSystem;
  readonly bootCount: number;
  shutdown(): void;
}

/** What `sw` needs to boot, in either placement. */
export interface SwStart {
  readonly board: BoardProfile;
  readonly domain: Supervisor;
  /** sw's end of sw↔hypervisor, built from the sw bundle's channel spec. */
  readonly hypervisor: ChannelEndpoint;
  readonly deviceId: string;
  readonly keys: Pick<DeviceKeys, 'device'>;
  readonly hubs: Pick<HubPins, 'ih'>;
  readonly clock: Clock;
  readonly dataDir: string;
  readonly reboot: (reason: ResetReason, detail: string) => void;
  readonly events?: (e: AwdtEvent) => void;
  readonly manifestVersion: string;
  readonly manifestDigest: Uint8Array;
  readonly hypervisorDigest: Uint8Array;
}

/**
 * Boots `sw` from its bundle: the boot record (boot count, reset reason), the watchdog backend of the
 * board, the device AWDT with K_I; starts the domain and returns this boot's count and the watchdog
 * that records a reset's reason before resetting (for escalations too).
 */
export function startSw(swMod: SwModule, o: SwStart): { readonly bootCount: number; readonly watchdog: WatchdogBackend } {
  const store = new swMod.FileStateStore(join(o.dataDir, 'sw'));
  const created = swMod.createWatchdog(o.board.watchdog, { clock: o.clock, reboot: o.reboot });
  const record = swMod.beginBoot(store, created.bootStatus);
  const watchdog = swMod.recordingWatchdog(created.watchdog, store);
  swMod.install({
    domain: o.domain,
    hypervisor: o.hypervisor,
    deviceId: o.deviceId,
    firmwareVersion: o.manifestVersion,
    deviceKey: o.keys.device,
    infrastructureHub: o.hubs.ih.publicKey,
    timing: o.board.timing,
    mailbox: o.board.domains.sw.mailbox,
    record,
    manifestDigest: o.manifestDigest,
    hypervisorImageDigest: o.hypervisorDigest,
    watchdog,
    events: o.events,
  });
  o.domain.start();
  return { bootCount: record.bootCount, watchdog };
}

const GAVE_UP = 'gave up after repeated failures';

/** `sw` or the hypervisor giving up resets the device; a VM giving up is booted again from its image. */
export function onEscalation(system: ComposedSystem, sw: Supervisor, hyp: Supervisor, watchdog: WatchdogBackend, restartVm: (instance: string, cause: RebootCause) => void): void {
  system.onEscalation((domain) => {
    if (domain === sw || domain === hyp) watchdog.reset(ResetReason.CHECK_FAILED, `${domain.path} ${GAVE_UP}`);
    else restartVm(domain.path, { kind: 'escalated', detail: GAVE_UP });
  });
}

export function composeDevice(o: ComposeOptions): ComposedDevice {
  const { loaded, deviceId, keys, hubs } = o;
  const board = loaded.board;
  const { sw: swMod, hypervisor: hypMod, mm: mmMod } = loaded;
  const d = board.domains;
  for (const s of board.services) {
    if (keys.services[s] === undefined || hubs.services[s] === undefined) throw new Error(`board ${board.id} runs service "${s}", but the device has no K_SM key or pinned service hub for it`);
  }

  const system = new swMod.runtime.ActorSystem({ clock: o.clock, drain: o.drain ?? 'auto' });
  const sw = system.domain('sw', { priority: 0 });
  const hyp = system.domain('hypervisor', { priority: 1 });
  const mm = system.domain('mm', { priority: 2, strategy: 'one-for-all' });
  const swHyp = linkChannel({ runtime: swMod.runtime, spec: swMod.channels.hypervisor, domain: sw }, { runtime: hypMod.runtime, spec: hypMod.channels.sw, domain: hyp }, d.sw.mailbox.inlet);
  const hypMm = linkChannel({ runtime: hypMod.runtime, spec: hypMod.channels.mm, domain: hyp }, { runtime: mmMod.runtime, spec: mmMod.channels.hypervisor, domain: mm }, d.mm.mailbox.inlet);
  const sms = board.services.map((name) => {
    const mod = loaded.services.get(name)!;
    const domain = system.domain(`sm:${name}`, { priority: 3 });
    const channel = linkChannel({ runtime: mmMod.runtime, spec: mmMod.channels.service(name), domain: mm }, { runtime: mod.runtime, spec: mod.channels.mm, domain }, d.sm.mailbox.inlet);
    return { name, mod, domain, channel };
  });

  // 1. sw: boot record, watchdog, the device AWDT — started before any other domain.
  const { bootCount, watchdog } = startSw(swMod, { ...o, board, domain: sw, hypervisor: swHyp.a, manifestVersion: loaded.verified.manifest.version, manifestDigest: loaded.verified.manifestDigest, hypervisorDigest: loaded.digests.get('hypervisor')! });

  // 2. hypervisor: proxy, inspector, one AWDT per VM; then the VMs from their images.
  const routes = [
    { instance: 'device', hubId: hubs.ih.id },
    { instance: 'mm', hubId: hubs.ih.id },
    ...board.services.map((s) => ({ instance: `sm:${s}`, hubId: hubs.services[s]!.id })),
  ];
  const machine = hypMod.domainMachines(system);
  const hv = hypMod.install({
    clock: o.clock,
    domain: hyp,
    sw: swHyp.b,
    mm: hypMm.a,
    deviceId,
    timing: board.timing,
    mailbox: d.hypervisor.mailbox,
    events: o.events,
    vms: [
      {
        instance: 'mm',
        machine: machine({
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
              link: o.link,
              jitter: o.jitter,
            }),
        }),
        key: keys.mm,
        hub: hubs.ih.publicKey,
      },
      ...sms.map((s) => ({
        instance: `sm:${s.name}`,
        machine: machine({
          domain: s.domain,
          platformPaths: new Set([s.channel.b.inletPath]),
          digest: loaded.digests.get(`sm:${s.name}`)!,
          install: (image) =>
            void s.mod.install({ image, mm: s.channel.b, dataDir: join(o.dataDir, `sm-${s.name}`), mailbox: d.sm.mailbox, options: { periodMs: board.timing.intervalMs } }),
        }),
        key: keys.services[s.name]!,
        hub: hubs.services[s.name]!.publicKey,
      })),
    ],
  });
  onEscalation(system, sw, hyp, watchdog, hv.restart);
  hyp.start();
  hv.bootVms();
  return { system, bootCount, shutdown: () => system.shutdown() };
}
