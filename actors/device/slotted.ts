/**
 * A bundled device in one process that boots from its slots (docs/ARCHITECTURE.md §5): the `single`
 * placement with A/B slots, gated boot, VM image restore and updates. At start, the images the device
 * was installed with become its first slots (once) and the code of every valid slot is loaded; at
 * every boot `sw`'s bootloader opens `sw`'s and the hypervisor's slots, the hypervisor's opens each
 * VM's, and `sw` asks the IH to grant exactly those images before the services start.
 *
 * What every placement on slots shares is here too: `prepareSlots` (the start), `openFirmware` (`sw`'s
 * bootloader at each boot) and `openVms`/`vmModules` (the hypervisor's) — the process placements
 * (process/) call them in their own processes.
 */
import { serviceChannel, serviceInstance, type BootImageLike, type SlotReport } from '../../proto/index.ts';
import { describe } from '../../runtime/index.ts';
import { ArtifactError, BOARD_FILE, verifyArtifacts } from '../release/index.ts';
import type { BoardProfile } from '../../boards/index.ts';
import { assemble, domainsOfProcess, mailboxesOf, type AssembledDevice } from './assemble.ts';
import { boardOf } from './artifacts.ts';
import {
  deviceSlots,
  installCarried,
  recoverBootState,
  maxBundleBytes,
  ModuleCache,
  RECOVERY_PATH,
  SW_LABELS,
  vmLabels,
  type DeviceSlots,
} from './device-slots.ts';
import type { HypervisorImage, MmImage, ServiceImage, SwImage } from './images.ts';
import type { Placement, SingleOptions } from './runner.ts';
import { VmSlotKeeper, type OpenedImage } from './vm-keeper.ts';
import { FirmwareSlotKeeper, type FirmwareKeeperOptions } from './firmware-keeper.ts';
import { keepTwoCopies, slotReport } from './slot-keeping.ts';
import { prepareSlotDirs } from './slot-access.ts';
import type { DomainUsers } from './process/users.ts';
import type { DeviceEvent, SlotEvent } from './status.ts';
import type { OpenOutcome, SlotBoot } from '../slots/index.ts';

/** The device's slots, ready to boot from: installed, and every valid slot's code loaded. */
export interface SlottedImages {
  readonly board: BoardProfile;
  readonly slots: DeviceSlots;
  readonly modules: ModuleCache;
  readonly releasePublicKey: Uint8Array;
  /** The install medium's firmware version, and what of it this start installed into empty slots. */
  readonly medium: { readonly version: string; readonly installed: ReadonlyArray<{ readonly label: string; readonly version: number }> };
}

/** A device whose recovery path cannot boot: no slot of `sw` or the hypervisor verifies. */
export class DeviceBootError extends Error {
  override readonly name = 'DeviceBootError';
}

export interface PrepareOptions {
  /** The board the device was started for: a medium built for another is refused before anything is written. */
  readonly forBoard?: string;
  /**
   * The users the domains run as, for the board the medium is for (none: all run as this process's
   * user): the slots are laid out for them before anything is written (slot-access.ts).
   */
  readonly users?: (board: BoardProfile) => DomainUsers | undefined;
  /** Told what must not go unnoticed: a corrupt boot state, moved aside and rebuilt. */
  readonly warn?: (line: string) => void;
}

/**
 * Verifies the install medium (`dir`), installs it into the slots where they hold nothing, and loads
 * the code of every slot that verifies and runs in this process (every domain in `single` placement;
 * only `sw` where the other domains have processes of their own, which load their own). A corrupt
 * boot state is rebuilt from the slots first, loudly. Throws ArtifactError for a bad medium,
 * BootStateError for a state that cannot be read, SlotError for slots that cannot be written.
 */
export async function prepareSlots(
  dir: string,
  releasePublicKey: Uint8Array,
  dataDir: string,
  o: PrepareOptions = {},
): Promise<SlottedImages> {
  const verified = verifyArtifacts(dir, releasePublicKey);
  const board = boardOf(verified);
  if (o.forBoard !== undefined && board.id !== o.forBoard)
    throw new ArtifactError('malformed', BOARD_FILE, `in ${dir} is for board ${board.id}, not ${o.forBoard}`);
  const users = o.users?.(board);
  if (users !== undefined) prepareSlotDirs(dataDir, vmLabels(board), users);
  const slots = deviceSlots(dataDir, releasePublicKey, board, users === undefined ? {} : { vmOwner: users.hypervisor });
  const warn = o.warn ?? ((line: string) => process.stderr.write(`dominion device: ${line}\n`));
  for (const boot of [slots.sw, slots.vms]) recoverBootState(boot, warn);
  const installed = installCarried(slots, verified, board).flatMap((r) => r.installed);
  const modules = new ModuleCache();
  const here = board.placement === 'single' ? [...SW_LABELS, ...vmLabels(board)] : domainsOfProcess(board, 'sw');
  await modules.preload(slots, here, board, releasePublicKey);
  return { board, slots, modules, releasePublicKey, medium: { version: verified.manifest.version, installed } };
}

export type SlottedOptions = Omit<SingleOptions, 'loaded'> & { readonly slotted: SlottedImages };

/** The `single` placement on slots. */
export function slottedPlacement(o: SlottedOptions): Placement<AssembledDevice> {
  const { board, slots, modules, releasePublicKey } = o.slotted;
  const mailboxes = mailboxesOf(board);
  return (hooks) => {
    const now = () => o.clock.now();
    const firmware = openFirmware(o.slotted, hooks.events, now, (label, image, bytes) => modules.add(label, image, bytes));
    const { sw, hypervisor } = firmware;
    const vms = openVms({ slots: slots.vms, board, releasePublicKey, modules, events: hooks.events, now });
    const { mm, services } = vmModules(board, modules, vms.images);
    const vmImages = vms.images;
    // Asked again at every boot request: a VM restored or updated in recovery mode changes what boots.
    const gateImages = (): BootImageLike[] => [...firmware.images, ...vms.keeper.bootImages(vmLabels(board))];
    return assemble({
      ...o,
      images: {
        sw: modules.get<SwImage>(sw.image.digest),
        hypervisor: modules.get<HypervisorImage>(hypervisor.image.digest),
        mm,
        services,
        digests: new Map([...firmware.images, ...vmImages].map((i) => [i.label, i.digest] as const)),
        version: sw.image.manifest.version,
        manifestDigest: sw.image.manifestDigest,
      },
      vmSlots: { keeper: vms.keeper, modules },
      gate: { images: gateImages, retryMs: board.timing.intervalMs },
      slots: firmware.reports,
      firmware: firmware.keeper,
      timing: board.timing,
      mailboxes,
      watchdog: board.watchdog,
      reboot: hooks.reboot,
      events: hooks.events,
      booted: (record) => hooks.events({ type: 'boot', bootCount: record.bootCount, lastResetReason: record.lastResetReason, at: now() }),
      faults: (path, error) => hooks.events({ type: 'fault', path, detail: describe(error), at: now() }),
    });
  };
}

export interface VmBootOptions {
  /** The hypervisor's bootloader. */
  readonly slots: SlotBoot;
  readonly board: BoardProfile;
  readonly releasePublicKey: Uint8Array;
  /** One process: where an installed image is loaded before its VM boots on it. None: each VM's process loads its slot. */
  readonly modules?: ModuleCache;
  readonly events: (e: SlotEvent) => void;
  readonly now: () => number;
}

/**
 * The hypervisor's bootloader at one boot: every VM's slot opened for its first boot (taking a trial's
 * tries) by the keeper that then checks, restores and updates them; and the images they boot, as the
 * boot request names them (a VM held for a restore is left out).
 */
export function openVms(o: VmBootOptions): { readonly keeper: VmSlotKeeper; readonly images: BootImageLike[] } {
  const { board, modules } = o;
  const keeper = new VmSlotKeeper({
    slots: o.slots,
    board: board.id,
    releasePublicKey: o.releasePublicKey,
    maxBytes: (instance) => maxBundleBytes(board, instance),
    ...(modules !== undefined
      ? { load: (instance: string, opened: OpenedImage) => modules.add(instance, opened.image, opened.bytes) }
      : {}),
    events: o.events,
    now: o.now,
    mirrored: RECOVERY_PATH,
  });
  keeper.prime(vmLabels(board));
  return { keeper, images: keeper.primedImages() };
}

/**
 * The VMs' modules in one process: each the one its opened slot holds; a service held for a restore
 * gets the stand-in (`heldService`). Throws DeviceBootError when no slot of `mm` verifies.
 */
export function vmModules(
  board: BoardProfile,
  modules: ModuleCache,
  images: readonly BootImageLike[],
): { readonly mm: MmImage; readonly services: Map<string, ServiceImage> } {
  const moduleOf = <T>(label: string): T | undefined => {
    const primed = images.find((i) => i.label === label);
    return primed === undefined ? modules.anyOf<T>(label) : modules.get<T>(primed.digest);
  };
  const mm = moduleOf<MmImage>('mm');
  if (mm === undefined)
    throw new DeviceBootError('no slot of mm verifies: the device cannot reach its IH; reinstall it from trusted artifacts');
  return {
    mm,
    services: new Map(board.services.map((s) => [s, moduleOf<ServiceImage>(serviceInstance(s)) ?? heldService(mm, s)] as const)),
  };
}

/** `sw`'s bootloader at one boot: the slots of `sw` and the hypervisor opened, and their keeper. */
export interface OpenedFirmware {
  readonly sw: OpenOk;
  readonly hypervisor: OpenOk;
  /** The two as the boot request names them. */
  readonly images: readonly BootImageLike[];
  readonly keeper: FirmwareSlotKeeper;
  /** Their slots, reported with every device request. */
  readonly reports: () => SlotReport[];
}

type OpenOk = Extract<OpenOutcome, { kind: 'ok' }>;

/**
 * Opens `sw`'s and the hypervisor's slots for this boot (taking a trial's tries) and builds the keeper
 * that updates them; `load` makes an installed image runnable in this process before the reset into it.
 */
export function openFirmware(
  slotted: SlottedImages,
  events: (e: DeviceEvent) => void,
  now: () => number,
  load: FirmwareKeeperOptions['load'],
): OpenedFirmware {
  const { board, slots, releasePublicKey } = slotted;
  const sw = openRecoveryPath(slots, 'sw', events, now);
  const hypervisor = openRecoveryPath(slots, 'hypervisor', events, now);
  const keeper = new FirmwareSlotKeeper({
    slots: slots.sw,
    board: board.id,
    releasePublicKey,
    maxBytes: (label) => maxBundleBytes(board, label),
    trial: new Set(([sw.trial ? 'sw' : undefined, hypervisor.trial ? 'hypervisor' : undefined] as const).filter((l) => l !== undefined)),
    load,
    events,
    now,
  });
  return {
    sw,
    hypervisor,
    images: [sw, hypervisor].map((o) => ({ label: o.image.label, version: BigInt(o.image.version), digest: o.image.digest })),
    keeper,
    reports: () => SW_LABELS.flatMap((label) => slotReport(slots.sw, label) ?? []),
  };
}

/**
 * The stand-in for a service none of whose slots verifies, until its hub restores it: the channel
 * plumbing the hypervisor keeps for it (the same contract, mm's runtime), and no code — the VM is held
 * down until a verified image is installed, and then boots that.
 */
export function heldService(mm: MmImage, service: string): ServiceImage {
  return {
    ENTRY_ABI: mm.ENTRY_ABI,
    DOMAIN: 'sm',
    SERVICE: service,
    runtime: mm.runtime,
    channels: { mm: serviceChannel(service) },
    install: () => {
      throw new Error(`sm:${service} has no verified image to run`);
    },
  };
}

/**
 * Opens a slot of `sw`'s for this boot (taking a trial's try), telling what the bootloader did; a
 * tampered copy is repaired from the good one. None verifying is the one thing a device cannot repair
 * itself.
 */
function openRecoveryPath(slots: DeviceSlots, label: 'sw' | 'hypervisor', events: (e: DeviceEvent) => void, now: () => number): OpenOk {
  const opened = slots.sw.open(label);
  if (opened.rolledBack !== undefined)
    events({ type: 'slot', label, what: 'rolled-back', version: opened.rolledBack.version, detail: opened.rolledBack.detail, at: now() });
  if (opened.kind === 'restore')
    throw new DeviceBootError(
      `no slot of ${label} verifies (${opened.reason}): the device cannot boot; reinstall it from trusted artifacts`,
    );
  if (opened.fellBack !== undefined) {
    events({ type: 'slot', label, what: 'fell-back', version: opened.image.version, detail: opened.fellBack.reason, at: now() });
    keepTwoCopies(slots.sw, label);
  }
  if (opened.trial) events({ type: 'slot', label, what: 'trial', version: opened.image.version, at: now() });
  return opened;
}
