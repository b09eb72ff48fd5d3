/**
 * The one assembly of a device (docs/ARCHITECTURE.md §5, §6): every domain-level rule lives here —
 * boot order, each domain's priority and restart strategy, which hub dominates which instance, what
 * happens when a domain gives up, the keys and pins a service needs, and where each domain keeps
 * its data. Every placement is a thin host over it:
 *
 * - `assemble` puts all four domains in one actor system: the simulated device from sources
 *   (device.ts) and verified bundles in one process (`single`, runner.ts) differ only in the
 *   images they hand it;
 * - `process` placement (process/) runs each domain in a process of its own and calls the per-domain
 *   parts: `bootSw`, `vmSlots`, `mmInstaller`, `serviceInstaller`, `openDomain`, `onGiveUp`.
 *
 * To add a domain-level rule, edit this file.
 */
import { join } from 'node:path';
import type { ActorSystem, Channel, ChannelEndpoint, Clock, Supervisor, SupervisorOptions } from '../../runtime/index.ts';
import { ResetReason, serviceInstance, type BootImageLike, type ChannelContract } from '../../proto/index.ts';
import type { BoardProfile, BoardTiming, MailboxBudgets, WatchdogConfig } from '../../boards/index.ts';
import type { HubLink, MmInstallOptions, MqttLinkOptions, ReceiverCounters, ReceiverRoute } from '../mm/index.ts';
import type { RebootCause, VmMachine } from '../hypervisor/index.ts';
import type { DeviceEvent } from './status.ts';
import type { BootRecord, DeviceImageKeeper, SwInstallOptions, WatchdogBackend } from '../sw/index.ts';
import type { DeviceKeys, HubPins } from './config.ts';
import type { DeviceImages, ImageRuntime, MmImage, ServiceImage, SwImage, VmImages } from './images.ts';
import type { ModuleCache } from './device-slots.ts';
import type { VmSlotKeeper } from './vm-keeper.ts';

/** Each domain's scheduling priority (lower runs first) and supervisor options. */
const DOMAINS: Readonly<Record<'sw' | 'hypervisor' | 'mm' | 'sm', SupervisorOptions>> = {
  sw: { priority: 0 },
  hypervisor: { priority: 1 },
  // mm's receiver, forwarder and uplink share one link: when one fails they restart together.
  mm: { priority: 2, strategy: 'one-for-all' },
  sm: { priority: 3 },
};

function optionsOf(label: string): SupervisorOptions {
  const options = DOMAINS[(label.startsWith('sm:') ? 'sm' : label) as keyof typeof DOMAINS];
  if (options === undefined) throw new Error(`no domain ${JSON.stringify(label)}`);
  return options;
}

/** Opens the top-level domain `label` (`sw`, `hypervisor`, `mm`, `sm:<service>`) with its options. */
export function openDomain(system: Pick<ActorSystem, 'domain'>, label: string): Supervisor {
  return system.domain(label, optionsOf(label));
}

/**
 * The options of the `image` supervisor a VM's image is installed into on every boot: the domain's
 * restart strategy must reach the image's actors, which live there and not in the domain itself.
 */
export function imageOptions(label: string): SupervisorOptions {
  const { strategy } = optionsOf(label);
  return strategy === undefined ? {} : { strategy };
}

/** Each domain's mailbox budgets, from the board's domain budgets. */
export function mailboxesOf(board: BoardProfile): MailboxBudgets {
  const d = board.domains;
  return { sw: d.sw.mailbox, hypervisor: d.hypervisor.mailbox, mm: d.mm.mailbox, sm: d.sm.mailbox };
}

/**
 * The domains one domain process holds (`process` and `split` placement): its own, and in `split`
 * the hypervisor's process holds `mm` and every service too.
 */
export function domainsOfProcess(board: Pick<BoardProfile, 'placement' | 'services'>, label: string): string[] {
  return board.placement === 'split' && label === 'hypervisor' ? ['hypervisor', 'mm', ...board.services.map(serviceInstance)] : [label];
}

/** A domain process's budget: the sum of the budgets of the domains it holds. */
export function processBudget(
  board: BoardProfile,
  label: string,
): { readonly heapMb: number; readonly memoryMb: number; readonly vcpus: number } {
  const budgets = domainsOfProcess(board, label).map(
    (l) => board.domains[(l.startsWith('sm:') ? 'sm' : l) as keyof BoardProfile['domains']],
  );
  return {
    heapMb: budgets.reduce((a, b) => a + b.heapMb, 0),
    memoryMb: budgets.reduce((a, b) => a + b.memoryMb, 0),
    vcpus: budgets.reduce((a, b) => a + b.vcpus, 0),
  };
}

/** Where each domain keeps what survives a reset, under the device's data directory. */
export const dataDirs = {
  sw: (root: string): string => join(root, 'sw'),
  service: (root: string, service: string): string => join(root, `sm-${service}`),
} as const;

/** Which hub dominates each instance: `device` and `mm` → the IH, `sm:<k>` → SH_k. */
export function receiverRoutes(hubs: HubPins, services: readonly string[]): ReceiverRoute[] {
  return [
    { instance: 'device', hubId: hubs.ih.id },
    { instance: 'mm', hubId: hubs.ih.id },
    ...services.map((s) => ({ instance: serviceInstance(s), hubId: servicePin(hubs, s).id })),
  ];
}

/** The device's keys or pins lack something its domains need. */
export class DeviceConfigError extends Error {
  override readonly name = 'DeviceConfigError';
}

/** Every service needs its K_SM key and a pinned service hub; `mm` needs K_MM. Checked before anything boots. */
export function checkKeys(
  services: readonly string[],
  keys: { readonly mm?: unknown; readonly services: Readonly<Record<string, unknown>> },
  hubs: { readonly services: Readonly<Record<string, unknown>> },
): void {
  if (keys.mm === undefined)
    throw new DeviceConfigError('the device has no K_MM key: mm cannot run without one (enroll the device with an mm key)');
  for (const s of services) {
    if (keys.services[s] === undefined || hubs.services[s] === undefined)
      throw new DeviceConfigError(
        `service "${s}" needs a K_SM key and a pinned service hub; the device has ${keys.services[s] === undefined ? 'no key' : 'no pinned hub'} for it`,
      );
  }
}

function servicePin<P>(hubs: { readonly services: Readonly<Record<string, P>> }, service: string): P {
  const pin = hubs.services[service];
  if (pin === undefined) throw new DeviceConfigError(`no service hub pinned for service "${service}"`);
  return pin;
}

export const GAVE_UP = 'gave up after repeated failures';

/**
 * What a domain that exceeds its restart intensity costs: `sw` or the hypervisor giving up resets
 * the device (nothing below them can be trusted to recover them); a VM giving up is booted again from
 * its clean image, and its AWDT keeps running meanwhile.
 */
export function onGiveUp(label: string): 'reset-device' | 'reboot-vm' {
  return label === 'sw' || label === 'hypervisor' ? 'reset-device' : 'reboot-vm';
}

/** What `sw` boots with, in every placement: what its image installs, and what the assembly adds. */
export type SwBoot = Pick<
  SwInstallOptions,
  'domain' | 'hypervisor' | 'deviceId' | 'deviceKey' | 'mailbox' | 'events' | 'nonce' | 'slots'
> & {
  readonly timing: SwInstallOptions['timing'] & Pick<BoardTiming, 'replyTimeoutMs'>;
  /** The keeper of `sw`'s and the hypervisor's slots (firmware updates); none: fixed firmware. */
  readonly firmware?: DeviceImageKeeper;
  /**
   * Gated boot: the images this boot runs once the IH grants it, and how often to ask. None: not gated
   * (the services start at once).
   */
  readonly gate?: { readonly images: () => readonly BootImageLike[]; readonly retryMs: number };
  readonly ihPublicKey: Uint8Array;
  readonly watchdog: WatchdogConfig;
  readonly clock: Clock;
  readonly dataDir: string;
  /** Simulated watchdog: what a reset does (the host tears every domain down and boots again). */
  readonly reboot: (reason: ResetReason, detail: string) => void;
  readonly version: string;
  readonly manifestDigest: Uint8Array;
  readonly hypervisorDigest: Uint8Array;
  /** This boot is counted (before the device AWDT is armed). */
  readonly booted?: (record: BootRecord) => void;
  /** False only for baselines that measure a device without dominance: no device AWDT. */
  readonly dominance?: boolean;
};

/**
 * Boots `sw`: the boot record (count, why the last reset happened), the board's watchdog, the device
 * AWDT with K_I — and starts the domain, before any other domain starts. Returns this boot's record
 * and the watchdog that saves a reset's reason before resetting, whoever asks for it.
 */
export function bootSw(image: SwImage, o: SwBoot): { readonly record: BootRecord; readonly watchdog: WatchdogBackend } {
  const store = new image.FileStateStore(dataDirs.sw(o.dataDir));
  const created = image.createWatchdog(o.watchdog, { clock: o.clock, reboot: o.reboot });
  const record = image.beginBoot(store, created.bootStatus);
  const watchdog = image.recordingWatchdog(created.watchdog, store);
  o.booted?.(record);
  if (o.dominance !== false) {
    image.install({
      domain: o.domain,
      hypervisor: o.hypervisor,
      clock: o.clock,
      deviceId: o.deviceId,
      firmwareVersion: o.version,
      deviceKey: o.deviceKey,
      infrastructureHub: o.ihPublicKey,
      timing: o.timing,
      mailbox: o.mailbox,
      record,
      manifestDigest: o.manifestDigest,
      hypervisorImageDigest: o.hypervisorDigest,
      watchdog,
      events: o.events,
      nonce: o.nonce,
      slots: o.slots,
      gate: o.gate,
      firmware: o.firmware && { keeper: o.firmware, replyTimeoutMs: o.timing.replyTimeoutMs },
    });
  }
  o.domain.start();
  return { record, watchdog };
}

/** The VMs the hypervisor dominates — `mm`, then one per service — each with its key, hub and machine. */
export function vmSlots(
  services: readonly string[],
  keys: Pick<DeviceKeys, 'mm' | 'services'>,
  hubs: HubPins,
  machine: (label: string) => VmMachine,
): Array<{ instance: string; machine: VmMachine; key: Uint8Array; hub: Uint8Array }> {
  return [
    { instance: 'mm', machine: machine('mm'), key: keys.mm, hub: hubs.ih.publicKey },
    ...services.map((s) => {
      const instance = serviceInstance(s);
      const key = keys.services[s];
      if (key === undefined) throw new DeviceConfigError(`service "${s}" has no K_SM key`);
      return { instance, machine: machine(instance), key, hub: servicePin(hubs, s).publicKey };
    }),
  ];
}

/** What `mm`'s image is installed with on each of its boots (all but the fresh image supervisor). */
export type MmSetup = Omit<MmInstallOptions, 'image'>;

export function mmInstaller(image: MmImage, o: MmSetup): (supervisor: Supervisor) => void {
  return (supervisor) => image.install({ image: supervisor, ...o });
}

/** What a service's image is installed with on each of its boots. */
export interface ServiceSetup {
  readonly endpoint: ChannelEndpoint;
  /** The device's data directory (the service's own is derived from it). */
  readonly dataDir: string;
  readonly mailbox: MailboxBudgets['sm'];
  readonly intervalMs: number;
}

export function serviceInstaller(image: ServiceImage, o: ServiceSetup): (supervisor: Supervisor) => void {
  return (supervisor) =>
    void image.install({
      image: supervisor,
      mm: o.endpoint,
      dataDir: dataDirs.service(o.dataDir, image.SERVICE),
      mailbox: o.mailbox,
      options: { periodMs: o.intervalMs },
    });
}

/** One end of a channel: the image whose code builds it and the domain it lives in. */
interface ChannelSide {
  readonly runtime: ImageRuntime;
  readonly contract: ChannelContract;
  readonly domain: Supervisor;
}

/**
 * Connects two domains in one process, each end built by its own image's code: only framed bytes
 * cross between them, exactly as over a socket.
 */
function linkChannel(a: ChannelSide, b: ChannelSide, inletCapacity: number): Channel {
  if (a.contract.name !== b.contract.name) throw new Error(`cannot link channel ${a.contract.name} to ${b.contract.name}`);
  const ea = new a.runtime.ChannelEndpoint(a.contract, a.domain, inletCapacity, 'a');
  const eb = new b.runtime.ChannelEndpoint(b.contract, b.domain, inletCapacity, 'b');
  ea.connect(eb);
  eb.connect(ea);
  return { spec: a.contract, a: ea, b: eb };
}

/** The inlet actors a channel put into a VM's domain: the hypervisor's plumbing, not the VM's code. */
function platformPaths(domain: Supervisor, channels: readonly Channel[]): Set<string> {
  const paths = new Set<string>();
  for (const ch of channels) for (const end of [ch.a, ch.b]) if (end.domain === domain) paths.add(end.inletPath);
  return paths;
}

/** What the hypervisor and its VMs run with (the images but `sw`'s, keys but K_I). */
export interface HypervisorOptions {
  readonly images: VmImages;
  readonly deviceId: string;
  readonly keys: Pick<DeviceKeys, 'mm' | 'services'>;
  readonly hubs: HubPins;
  readonly timing: BoardTiming | (Omit<BoardTiming, 'deferralMs'> & { readonly deferralMs?: number });
  readonly mailboxes: MailboxBudgets;
  /** `mm`'s uplink: an MQTT broker, or a link factory (simulations, tests). */
  readonly link: MqttLinkOptions | (() => HubLink);
  readonly clock: Clock;
  /** Root of persistent state (see `dataDirs`). */
  readonly dataDir: string;
  readonly events?: (e: DeviceEvent) => void;
  readonly jitter?: () => number;
  readonly nonce?: () => Uint8Array;
  readonly counters?: ReceiverCounters;
  /** False runs the same domains with no AWDT, no receiver and no expiry: the "VM" baseline. */
  readonly dominance?: boolean;
  /** Bundled devices: the VMs boot from their slots (checked, restored, updated), not from fixed images. */
  readonly vmSlots?: { readonly keeper: VmSlotKeeper; readonly modules: ModuleCache };
  /** Gated boot: the hypervisor runs `mm` alone until `sw` says the IH granted the boot. */
  readonly gated?: boolean;
  /** This boot's count (sw's boot record): the hypervisor numbers sealed service data by it. */
  readonly bootCount?: number;
  /** False: service data goes to `mm` unsealed (the benchmark's baseline only; docs/ARCHITECTURE.md §3.1). */
  readonly sealServiceData?: boolean;
}

export interface AssembleOptions extends HypervisorOptions {
  /** Gated boot: the images `sw` asks the IH to grant (every domain's, as its slot holds it). */
  readonly gate?: { readonly images: () => readonly BootImageLike[]; readonly retryMs: number };
  /** The sw and hypervisor slots, for the device's reports. */
  readonly slots?: SwBoot['slots'];
  /** The keeper of `sw`'s and the hypervisor's slots (firmware updates). */
  readonly firmware?: DeviceImageKeeper;
  readonly images: DeviceImages;
  readonly keys: DeviceKeys;
  readonly watchdog: WatchdogConfig;
  readonly drain?: 'auto' | 'manual';
  readonly reboot: (reason: ResetReason, detail: string) => void;
  readonly booted?: (record: BootRecord) => void;
  /** An actor failed, failed to start, or a domain gave up (for logs; escalation is handled here). */
  readonly faults?: (path: string, error: unknown) => void;
}

export interface AssembledDevice {
  readonly system: ActorSystem;
  readonly record: BootRecord;
  /** Boots one VM again from its clean image, as its AWDT's expiry would. */
  restartVm(instance: string, cause: RebootCause): void;
  shutdown(): void;
}

/** All four domains in one actor system, in boot order: `sw` (device AWDT armed first), the hypervisor, then the VMs. */
export function assemble(o: AssembleOptions): AssembledDevice {
  const { images, keys, hubs } = o;
  checkKeys([...images.services.keys()], keys, hubs);
  const system = new images.sw.runtime.ActorSystem({ clock: o.clock, drain: o.drain ?? 'auto' });
  if (o.faults !== undefined) reportFaults(system, o.faults);
  const sw = openDomain(system, 'sw');
  const hyp = openDomain(system, 'hypervisor');
  const swHyp = linkChannel(
    { runtime: images.sw.runtime, contract: images.sw.channels.hypervisor, domain: sw },
    { runtime: images.hypervisor.runtime, contract: images.hypervisor.channels.sw, domain: hyp },
    o.mailboxes.sw.inlet,
  );

  // 1. sw: the device AWDT is armed before any other domain starts.
  const { record, watchdog } = bootSw(images.sw, {
    ...o,
    domain: sw,
    hypervisor: swHyp.a,
    deviceKey: keys.device,
    ihPublicKey: hubs.ih.publicKey,
    mailbox: o.mailboxes.sw,
    version: images.version,
    manifestDigest: images.manifestDigest,
    hypervisorDigest: digestOf(images, 'hypervisor'),
  });

  // 2. the hypervisor, then the VMs.
  const hv = startHypervisor(system, hyp, swHyp.b, { ...o, gated: o.gate !== undefined, bootCount: record.bootCount }, (domain) =>
    watchdog.reset(ResetReason.CHECK_FAILED, `${domain} ${GAVE_UP}`),
  );
  return { system, record, restartVm: hv.restartVm, shutdown: () => system.shutdown() };
}

/** Logs what failed in `system` (escalation itself is the assembly's). */
export function reportFaults(system: ActorSystem, faults: (path: string, error: unknown) => void): void {
  system.onEvent((ev) => {
    if (ev.type === 'actor-failed' || ev.type === 'start-failed' || ev.type === 'root-escalation') faults(ev.path, ev.error);
  });
}

/**
 * The hypervisor (its domain `hyp`, already open, with its end `sw` of sw↔hypervisor) and its VMs —
 * `mm` and the services as domains of `system` — started in that order: each VM's AWDT is armed before
 * the VM boots. A VM that gives up is booted again from its image; `resetDevice` is called when the
 * hypervisor (or, in one system, `sw`) gives up.
 */
export function startHypervisor(
  system: ActorSystem,
  hyp: Supervisor,
  sw: ChannelEndpoint,
  o: HypervisorOptions,
  resetDevice: (domain: string) => void,
): { restartVm(instance: string, cause: RebootCause): void } {
  const { images, hubs, mailboxes: box } = o;
  const services = [...images.services.keys()];
  const mm = openDomain(system, 'mm');
  const hypMm = linkChannel(
    { runtime: images.hypervisor.runtime, contract: images.hypervisor.channels.mm, domain: hyp },
    { runtime: images.mm.runtime, contract: images.mm.channels.hypervisor, domain: mm },
    box.mm.inlet,
  );
  const sms = services.map((name) => {
    const image = images.services.get(name)!;
    const domain = openDomain(system, serviceInstance(name));
    const channel = linkChannel(
      { runtime: images.mm.runtime, contract: images.mm.channels.service(name), domain: mm },
      { runtime: image.runtime, contract: image.channels.mm, domain },
      box.sm.inlet,
    );
    sealServiceData(channel, name, o);
    return { name, image, domain, channel };
  });
  const machine = images.hypervisor.domainMachines(system);
  const slots = o.vmSlots;
  /** The module a VM boots now: its slot's (which a restore or an update changes), or the fixed image. */
  const current = <T>(label: string, fixed: T): T => {
    const running = slots?.keeper.running(label);
    return running === undefined ? fixed : slots!.modules.get<T>(running.image.digest);
  };
  const mmSetup = {
    ...o,
    hypervisor: hypMm.b,
    services: sms.map((s) => ({ name: s.name, endpoint: s.channel.a })),
    routes: receiverRoutes(hubs, services),
    mailbox: box.mm,
  };
  const vmDomains = new Map<
    string,
    { readonly domain: Supervisor; readonly channels: readonly Channel[]; readonly install: (s: Supervisor) => void }
  >([
    [
      'mm',
      {
        domain: mm,
        channels: [hypMm, ...sms.map((s) => s.channel)],
        install: (sup: Supervisor) => mmInstaller(current('mm', images.mm), mmSetup)(sup),
      },
    ],
    ...sms.map(
      (s) =>
        [
          serviceInstance(s.name),
          {
            domain: s.domain,
            channels: [s.channel],
            install: (sup: Supervisor) =>
              serviceInstaller(current(serviceInstance(s.name), s.image), {
                endpoint: s.channel.b,
                dataDir: o.dataDir,
                mailbox: box.sm,
                intervalMs: o.timing.intervalMs,
              })(sup),
          },
        ] as const,
    ),
  ]);
  const hv = images.hypervisor.install({
    clock: o.clock,
    domain: hyp,
    sw,
    mm: hypMm.a,
    deviceId: o.deviceId,
    timing: o.timing,
    mailbox: box.hypervisor,
    events: o.events,
    nonce: o.nonce,
    dominance: o.dominance,
    images: slots?.keeper,
    gated: o.gated,
    vms: vmSlots(services, o.keys, hubs, (label) => {
      const vm = vmDomains.get(label)!;
      return machine({
        domain: vm.domain,
        platformPaths: platformPaths(vm.domain, vm.channels),
        digest: () => slots?.keeper.running(label)?.image.digest ?? digestOf(images, label),
        install: vm.install,
        image: imageOptions(label),
      });
    }),
  });
  system.onEscalation((domain) => {
    if (onGiveUp(domain.path) === 'reset-device') resetDevice(domain.path);
    else hv.restart(domain.path, { kind: 'escalated', detail: GAVE_UP });
  });
  // An image whose actors cannot start is a failed boot: the VM is left down until its AWDT boots it
  // again (a trial counts the try), instead of running on without them.
  const vmLabels = [...vmDomains.keys()];
  system.onEvent((ev) => {
    if (ev.type !== 'start-failed') return;
    const vm = vmLabels.find((label) => ev.path.startsWith(`${label}/`));
    if (vm !== undefined) hv.halt(vm, `${ev.path} failed to start`);
  });
  hyp.start();
  hv.bootVms();
  return { restartVm: (instance, cause) => hv.vmHost.restart(instance, cause) };
}

/**
 * Puts the hypervisor's sealer (its own image's code, K_SM_<service>) between a service's end of its
 * channel and `mm`'s: what the service sends reaches `mm` only sealed; what `mm` sends reaches the
 * service as before (docs/ARCHITECTURE.md §3.1).
 */
function sealServiceData(channel: Channel, service: string, o: HypervisorOptions): void {
  if (o.sealServiceData === false) return;
  const key = o.keys.services[service];
  if (key === undefined) throw new DeviceConfigError(`service "${service}" has no K_SM key`);
  if (o.bootCount === undefined) throw new DeviceConfigError('sealing service data needs the boot count');
  const sealer = o.images.hypervisor.serviceSealer({
    contract: o.images.hypervisor.channels.service(service),
    deviceId: o.deviceId,
    service,
    boot: o.bootCount,
    key,
    clock: o.clock,
    toMm: (frame) => channel.a.acceptFrame(frame),
  });
  channel.b.connect({ acceptFrame: (frame) => sealer.fromService(frame) });
}

/** An image's digest by domain label, as the manifest names it. */
export function digestOf(images: Pick<DeviceImages, 'digests'>, label: string): Uint8Array {
  const digest = images.digests.get(label);
  if (digest === undefined) throw new DeviceConfigError(`no image digest for ${label}`);
  return digest;
}
