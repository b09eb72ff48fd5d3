/**
 * The `sw` domain's wiring, exported by its image (actors/images/sw.ts) and booted by the device
 * assembly (actors/device/assemble.ts): the device AWDT with K_I (noble: pure JS, as the secure
 * world's crypto), the boot record, the watchdog backend, all reached only through the channel to
 * the hypervisor.
 */
import { withCapacity, type ActorRef, type ChannelEndpoint, type Clock, type Supervisor } from '../../runtime/index.ts';
import { lanes, lite, ResetReason, type BootImageLike, type SlotReport } from '../../proto/index.ts';
import { nobleBackend } from '../crypto/index.ts';
import type { AwdtEvent, AwdtMsg } from '../tickets/index.ts';
import type { BoardTiming, MailboxBudgets, WatchdogConfig } from '../../boards/types.ts';
import { deviceAwdt } from './device-awdt.ts';
import { bootGate, BootGateCore, type GateEvent, type GateMsg } from './boot-gate.ts';
import { firmwareUpdater, type DeviceImageKeeper, type FirmwareEvent, type FirmwareMsg } from './device-update.ts';
import { ImageFetchCore, imageFetcher, type FetcherEvent, type FetcherMsg } from '../transfer/index.ts';
import type { BootRecord, DeviceStateStore } from './device-state.ts';
import {
  bootStatusPath,
  LinuxWatchdog,
  readBootStatus,
  resetReasonAfterBoot,
  type BootStatus,
  type HardwareTimeoutIo,
} from './linux-watchdog.ts';
import { SimulatedWatchdog, type WatchdogBackend } from './watchdog.ts';

export interface SwInstallOptions {
  /** The `sw` domain (a top-level supervisor), not yet started. */
  readonly domain: Supervisor;
  /** `sw`'s end of the sw↔hypervisor channel (built from `channels.hypervisor`). */
  readonly hypervisor: ChannelEndpoint;
  readonly clock: Clock;
  readonly deviceId: string;
  readonly firmwareVersion: string;
  /** K_I: the 32-byte seed of the device key. Held by `sw` alone. */
  readonly deviceKey: Uint8Array;
  /** The IH public key pinned at provisioning. */
  readonly infrastructureHub: Uint8Array;
  readonly timing: Pick<BoardTiming, 'initialTimeoutMs' | 'maxDeferralMs'>;
  readonly mailbox: MailboxBudgets['sw'];
  /** This boot's record (see `beginBoot`). */
  readonly record: BootRecord;
  /** When given, the reason of a reset is saved here before the watchdog is told to reset. */
  readonly store?: DeviceStateStore;
  /** SHA-512 of the signed manifest the device booted from. */
  readonly manifestDigest: Uint8Array;
  /** SHA-512 of the hypervisor image (its bundle) as the manifest names it. */
  readonly hypervisorImageDigest: Uint8Array;
  readonly watchdog: WatchdogBackend;
  readonly events?: (event: AwdtEvent | GateEvent | FirmwareEvent | FetcherEvent) => void;
  readonly nonce?: () => Uint8Array;
  /**
   * Gated boot: the images this boot runs once the IH grants it (every domain's, as its slot holds
   * it). Without it the boot is not gated: the hypervisor starts the services at once (baselines,
   * and devices built without slots).
   */
  readonly gate?: { readonly images: () => readonly BootImageLike[]; readonly retryMs: number };
  /** The sw and hypervisor slots, reported with every device request. */
  readonly slots?: () => readonly SlotReport[];
  /**
   * The keeper of `sw`'s and the hypervisor's slots: firmware updates are fetched and installed
   * through it. None: the firmware is fixed (UPDATE_REQUIRED for `device` only lets the AWDT expire).
   */
  readonly firmware?: { readonly keeper: DeviceImageKeeper; readonly replyTimeoutMs: number };
}

export interface SwInstalled {
  readonly awdt: ActorRef<AwdtMsg>;
  readonly gate?: ActorRef<GateMsg>;
}

/**
 * The watchdog as `sw` resets through it: the reason is saved to the boot record first, whoever
 * asks for the reset (the device AWDT, or a domain that gave up after repeated failures), so the next
 * boot can report why.
 */
export function recordingWatchdog(watchdog: WatchdogBackend, store: DeviceStateStore): WatchdogBackend {
  return {
    kind: watchdog.kind,
    reset(reason: ResetReason, detail: string): void {
      try {
        store.save({ ...store.load(), lastResetReason: reason, lastResetDetail: detail });
      } finally {
        // A record that cannot be written (full disk, corrupt file) must never keep the device from resetting.
        watchdog.reset(reason, detail);
      }
    },
    holdUntil: watchdog.holdUntil?.bind(watchdog),
  };
}

/** Spawns the device AWDT into `domain` and routes the hypervisor channel to it. */
export function installSw(o: SwInstallOptions): SwInstalled {
  const crypto = nobleBackend();
  const { proxyRequest, proxyEnvelope, bootGranted } = lite;
  const watchdog = o.store === undefined ? o.watchdog : recordingWatchdog(o.watchdog, o.store);
  let recovery = o.gate !== undefined;
  const events = (e: AwdtEvent | GateEvent | FirmwareEvent | FetcherEvent): void => {
    if (e.type === 'boot-granted') recovery = false;
    // The hardware is kept alive exactly as long as the AWDT's deadline: armed at boot, moved by tickets.
    if (e.type === 'armed' || e.type === 'ticket') watchdog.holdUntil?.(e.deadline);
    o.events?.(e);
  };
  const awdt = o.domain.spawn<AwdtMsg>(
    withCapacity(
      deviceAwdt({
        deviceId: o.deviceId,
        deviceKey: crypto.signer(o.deviceKey),
        infrastructureHub: crypto.verifier(o.infrastructureHub),
        initialTimeoutMs: o.timing.initialTimeoutMs,
        maxDeferralMs: o.timing.maxDeferralMs,
        firmwareVersion: o.firmwareVersion,
        manifestDigest: o.manifestDigest,
        hypervisorImageDigest: o.hypervisorImageDigest,
        recovery: () => recovery,
        slots: o.slots,
        record: o.record,
        watchdog,
        sendRequest: (envelope) => o.hypervisor.send(proxyEnvelope, { instance: 'device', envelope }),
        events,
        nonce: o.nonce,
        verdicts: o.firmware && {
          ticket: () => o.firmware!.keeper.ticket(),
          updateRequired: (update) => void firmware?.updater.offer({ type: 'update', update }),
        },
      }),
      o.mailbox.awdt,
    ),
  );
  const firmware = o.firmware && installFirmware(o, o.firmware, crypto, watchdog, events);
  const gate =
    o.gate === undefined
      ? undefined
      : o.domain.spawn<GateMsg>(
          bootGate({
            core: () =>
              new BootGateCore({
                deviceId: o.deviceId,
                signer: crypto.signer(o.deviceKey),
                ih: crypto.verifier(o.infrastructureHub),
                sha512: (d) => crypto.sha512(d),
                images: o.gate!.images,
                manifestDigest: o.manifestDigest,
                firmwareVersion: o.firmwareVersion,
                bootCount: o.record.bootCount,
                nonce: o.nonce,
              }),
            retryMs: o.gate.retryMs,
            send: (envelope) => o.hypervisor.send(proxyEnvelope, { instance: lanes.boot, envelope }),
            granted: () => void o.hypervisor.send(bootGranted, {}),
            events,
          }),
        );
  o.hypervisor.route(proxyRequest, awdt, (): AwdtMsg => ({ type: 'request' }));
  // By lane: the device AWDT's tickets, the boot gate's tickets; anything else is not for sw.
  o.hypervisor.routeWith(proxyEnvelope, (m) => {
    if (m.instance === 'device') return awdt.offer({ type: 'reply', envelope: m.envelope });
    if (m.instance === lanes.boot && gate !== undefined) return gate.offer({ type: 'reply', envelope: m.envelope });
    if (m.instance === lanes.image('device') && firmware !== undefined)
      return firmware.fetcher.offer({ type: 'chunk', envelope: m.envelope });
    return false;
  });
  return { awdt, gate };
}

/** The firmware fetcher (K_I, on the `image.device` lane) and updater, in `sw`'s domain. */
function installFirmware(
  o: SwInstallOptions,
  f: NonNullable<SwInstallOptions['firmware']>,
  crypto: ReturnType<typeof nobleBackend>,
  watchdog: WatchdogBackend,
  events: (e: FirmwareEvent | FetcherEvent) => void,
): { readonly fetcher: ActorRef<FetcherMsg>; readonly updater: ActorRef<FirmwareMsg> } {
  let updater: ActorRef<FirmwareMsg> | undefined;
  const fetcher = o.domain.spawn<FetcherMsg>(
    imageFetcher({
      name: 'firmware-fetch',
      instance: 'device',
      core: () =>
        new ImageFetchCore({
          deviceId: o.deviceId,
          instance: 'device',
          signer: crypto.signer(o.deviceKey),
          hub: crypto.verifier(o.infrastructureHub),
          sha512: (d) => crypto.sha512(d),
          nonce: o.nonce,
        }),
      send: (envelope) => o.hypervisor.send(lite.proxyEnvelope, { instance: lanes.image('device'), envelope }),
      replyTimeoutMs: f.replyTimeoutMs,
      done: (outcome) => updater?.tell({ type: 'fetched', outcome }),
      events,
    }),
  );
  updater = o.domain.spawn<FirmwareMsg>(
    firmwareUpdater({
      keeper: f.keeper,
      fetcher: () => fetcher,
      self: () => updater!,
      reboot: (detail) => watchdog.reset(ResetReason.UPDATE, detail),
      events,
      now: () => o.clock.now(),
    }),
  );
  return { fetcher, updater };
}

/**
 * Starts a boot: counts it and settles why the last reset happened — from the record `sw` wrote
 * before it, corrected by what the watchdog driver says when it says anything (linux backend).
 */
export function beginBoot(store: DeviceStateStore, status?: BootStatus): BootRecord {
  const last = store.load();
  const why = resetReasonAfterBoot({ reason: last.lastResetReason, detail: last.lastResetDetail }, status);
  const record: BootRecord = { bootCount: last.bootCount + 1, lastResetReason: why.reason, lastResetDetail: why.detail };
  store.save(record);
  return record;
}

export interface WatchdogDeps extends HardwareTimeoutIo {
  readonly clock: Clock;
  /** Simulated backend: what a reset does (the runner tears every domain down and boots again). */
  readonly reboot?: (reason: ResetReason, detail: string) => void;
  /** Linux backend: opens the device (default: the real one). */
  readonly open?: ConstructorParameters<typeof LinuxWatchdog>[0]['open'];
  readonly onError?: (error: unknown) => void;
}

/**
 * The board's watchdog backend, and for `linux` what its driver says about the last reset. `linux`
 * sets the driver's timeout to `hardwareTimeoutS` and reads it back before opening the device, and
 * throws HardwareTimeoutError (sw does not start) if the timeout in force is longer or unknown.
 */
export function createWatchdog(config: WatchdogConfig, deps: WatchdogDeps): { watchdog: WatchdogBackend; bootStatus?: BootStatus } {
  if (config.backend === 'simulated') {
    const reboot = deps.reboot;
    if (reboot === undefined) throw new Error('the simulated watchdog needs a reboot function');
    return { watchdog: new SimulatedWatchdog(reboot) };
  }
  const bootStatus = readBootStatus(bootStatusPath(config.device), deps.read);
  const watchdog = new LinuxWatchdog({
    ...deps,
    device: config.device,
    petIntervalMs: config.petIntervalMs,
    hardwareTimeoutS: config.hardwareTimeoutS,
  });
  return { watchdog, bootStatus };
}
