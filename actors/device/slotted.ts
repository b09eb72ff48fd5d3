/**
 * A bundled device in one process that boots from its slots (docs/ARCHITECTURE.md §5): the `single`
 * placement with A/B slots, gated boot, VM image restore and updates. At start, the images the device
 * was installed with become its first slots (once) and the code of every valid slot is loaded; at
 * every boot `sw`'s bootloader opens `sw`'s and the hypervisor's slots, the hypervisor's opens each
 * VM's, and `sw` asks the IH to grant exactly those images before the services start.
 */
import { serviceChannel, serviceInstance, type BootImageLike } from '../../proto/index.ts';
import { describe } from '../../runtime/index.ts';
import { verifyArtifacts } from '../release/index.ts';
import type { BoardProfile } from '../../boards/index.ts';
import { assemble, mailboxesOf, type AssembledDevice } from './assemble.ts';
import { boardOf } from './artifacts.ts';
import {
  deviceSlots,
  installCarried,
  maxBundleBytes,
  ModuleCache,
  RECOVERY_PATH,
  SW_LABELS,
  vmLabels,
  type DeviceSlots,
} from './device-slots.ts';
import type { HypervisorImage, MmImage, ServiceImage, SwImage } from './images.ts';
import type { Placement, SingleOptions } from './runner.ts';
import { VmSlotKeeper } from './vm-keeper.ts';
import { FirmwareSlotKeeper } from './firmware-keeper.ts';
import { keepTwoCopies, slotReport } from './slot-keeping.ts';
import type { DeviceEvent } from './status.ts';

/** The device's slots, ready to boot from: installed, and every valid slot's code loaded. */
export interface SlottedImages {
  readonly board: BoardProfile;
  readonly slots: DeviceSlots;
  readonly modules: ModuleCache;
  readonly releasePublicKey: Uint8Array;
}

/** A device whose recovery path cannot boot: no slot of `sw` or the hypervisor verifies. */
export class DeviceBootError extends Error {
  override readonly name = 'DeviceBootError';
}

/**
 * Verifies the install medium (`dir`), installs it into the slots where they hold nothing, and loads
 * the code of every slot that verifies. Throws ArtifactError for a bad medium.
 */
export async function prepareSlots(dir: string, releasePublicKey: Uint8Array, dataDir: string): Promise<SlottedImages> {
  const verified = verifyArtifacts(dir, releasePublicKey);
  const board = boardOf(verified);
  const slots = deviceSlots(dataDir, releasePublicKey, board);
  installCarried(slots, verified, board);
  const modules = new ModuleCache();
  await modules.preload(slots, [...SW_LABELS, ...vmLabels(board)], board, releasePublicKey);
  return { board, slots, modules, releasePublicKey };
}

export type SlottedOptions = Omit<SingleOptions, 'loaded'> & { readonly slotted: SlottedImages };

/** The `single` placement on slots. */
export function slottedPlacement(o: SlottedOptions): Placement<AssembledDevice> {
  const { board, slots, modules, releasePublicKey } = o.slotted;
  const mailboxes = mailboxesOf(board);
  return (hooks) => {
    const now = () => o.clock.now();
    const sw = openRecoveryPath(slots, 'sw', hooks.events, now);
    const hypervisor = openRecoveryPath(slots, 'hypervisor', hooks.events, now);
    const firmware = new FirmwareSlotKeeper({
      slots: slots.sw,
      board: board.id,
      releasePublicKey,
      maxBytes: (label) => maxBundleBytes(board, label),
      trial: new Set(([sw.trial ? 'sw' : undefined, hypervisor.trial ? 'hypervisor' : undefined] as const).filter((l) => l !== undefined)),
      load: (label, image, bytes) => modules.add(label, image, bytes),
      events: hooks.events,
      now,
    });
    const keeper = new VmSlotKeeper({
      slots: slots.vms,
      board: board.id,
      releasePublicKey,
      maxBytes: (instance) => maxBundleBytes(board, instance),
      load: (instance, opened) => modules.add(instance, opened.image, opened.bytes),
      events: hooks.events,
      now,
      mirrored: RECOVERY_PATH,
    });
    keeper.prime(vmLabels(board));
    const vmImages = keeper.primedImages();
    const moduleOf = <T>(label: string): T | undefined => {
      const primed = vmImages.find((i) => i.label === label);
      return primed === undefined ? modules.anyOf<T>(label) : modules.get<T>(primed.digest);
    };
    const mm = moduleOf<MmImage>('mm');
    if (mm === undefined)
      throw new DeviceBootError('no slot of mm verifies: the device cannot reach its IH; reinstall it from trusted artifacts');
    const firmwareImages: BootImageLike[] = [
      { label: 'sw', version: BigInt(sw.image.version), digest: sw.image.digest },
      { label: 'hypervisor', version: BigInt(hypervisor.image.version), digest: hypervisor.image.digest },
    ];
    const gateImages = (): BootImageLike[] => [...firmwareImages, ...keeper.bootImages(vmLabels(board))];
    return assemble({
      ...o,
      images: {
        sw: modules.get<SwImage>(sw.image.digest),
        hypervisor: modules.get<HypervisorImage>(hypervisor.image.digest),
        mm,
        services: new Map(board.services.map((s) => [s, moduleOf<ServiceImage>(serviceInstance(s)) ?? heldService(mm, s)] as const)),
        digests: new Map([...firmwareImages, ...vmImages].map((i) => [i.label, i.digest] as const)),
        version: sw.image.manifest.version,
        manifestDigest: sw.image.manifestDigest,
      },
      vmSlots: { keeper, modules },
      gate: { images: gateImages, retryMs: board.timing.intervalMs },
      slots: () => SW_LABELS.flatMap((label) => slotReport(slots.sw, label) ?? []),
      firmware,
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

/**
 * The stand-in for a service none of whose slots verifies, until its hub restores it: the channel
 * plumbing the hypervisor keeps for it (the same contract, mm's runtime), and no code — the VM is held
 * down until a verified image is installed, and then boots that.
 */
function heldService(mm: MmImage, service: string): ServiceImage {
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
function openRecoveryPath(slots: DeviceSlots, label: 'sw' | 'hypervisor', events: (e: DeviceEvent) => void, now: () => number) {
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
