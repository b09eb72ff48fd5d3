/**
 * A bundled device's slots (docs/ARCHITECTURE.md §5): where they live under the data directory, who
 * owns which boot state, how the images the device was installed with become its first slots, and —
 * in one process — the modules loaded from them.
 *
 * Two bootloaders, two boot states: `sw` boots `sw` and the hypervisor (`<data>/sw/boot-state.json`),
 * the hypervisor boots the VMs (`<data>/hypervisor/boot-state.json`). Each writes only its own, so in
 * `process` placement neither needs the other's files. The recovery path — `sw`, the hypervisor and
 * `mm`, what a device needs to reach its IH — is installed into both slots, so a tampered copy falls
 * back to the other and the device can still fetch a fresh one; a service is restored from its hub.
 */
import { join } from 'node:path';
import type { BoardProfile } from '../../boards/index.ts';
import { serviceInstance } from '../../proto/index.ts';
import { bundleFile, type ReleaseImage, type VerifiedArtifacts, type VerifiedImage } from '../release/index.ts';
import { BootStateError, BootStateFile, nodeFs, SLOT_NAMES, SlotBoot, SlotError, SlotStore, type InstallReport } from '../slots/index.ts';
import { importDomain } from './artifacts.ts';
import type { DomainUser } from './process/users.ts';
import { ownedSlotFs, readableSlotFs } from './slot-access.ts';

/** The labels `sw` boots, and those the hypervisor boots. */
export const SW_LABELS = ['sw', 'hypervisor'] as const;
/** Kept in two copies: what the device needs to reach its IH and repair the rest. */
export const RECOVERY_PATH: readonly string[] = ['sw', 'hypervisor', 'mm'];

export function vmLabels(board: Pick<BoardProfile, 'services'>): string[] {
  return ['mm', ...board.services.map(serviceInstance)];
}

export const slotPaths = {
  slots: (dataDir: string): string => join(dataDir, 'slots'),
  swState: (dataDir: string): string => join(dataDir, 'sw', 'boot-state.json'),
  vmState: (dataDir: string): string => join(dataDir, 'hypervisor', 'boot-state.json'),
} as const;

/** The largest bundle a slot may hold for `label`: its domain's raw budget. */
export function maxBundleBytes(board: BoardProfile, label: string): number {
  const kind = (label.startsWith('sm:') ? 'sm' : label) as keyof BoardProfile['domains'];
  return board.domains[kind].bundle.rawKb * 1024;
}

export interface DeviceSlots {
  /** The slots as read (every label) and as `sw` writes them (its own). */
  readonly store: SlotStore;
  /** `sw`'s bootloader: `sw` and `hypervisor`. */
  readonly sw: SlotBoot;
  /** The hypervisor's bootloader: `mm` and every service. */
  readonly vms: SlotBoot;
}

export interface DeviceSlotsOptions {
  /**
   * Domains run as users of their own (process/users.ts): what this process writes into the VMs'
   * slots and their boot state belongs to the hypervisor's user, who keeps them from then on.
   */
  readonly vmOwner?: Pick<DomainUser, 'uid' | 'gid'>;
}

/** The largest bundle any slot holds: the largest of the board's budgets (each image is also checked against its own on install). */
function largestBundle(board: BoardProfile): number {
  return Math.max(...(['sw', 'hypervisor', 'mm', 'sm'] as const).map((d) => board.domains[d].bundle.rawKb * 1024));
}

/** A bootloader over `store` and `stateFile`, as every host of the device configures it. */
export function slotBoot(store: SlotStore, stateFile: BootStateFile, releasePublicKey: Uint8Array, board: BoardProfile): SlotBoot {
  return new SlotBoot({ store, stateFile, releasePublicKey, board: board.id, maxBundleBytes: largestBundle(board) });
}

export function deviceSlots(dataDir: string, releasePublicKey: Uint8Array, board: BoardProfile, o: DeviceSlotsOptions = {}): DeviceSlots {
  const root = slotPaths.slots(dataDir);
  const store = new SlotStore(root, readableSlotFs);
  const owned = o.vmOwner;
  const vmStore = owned === undefined ? store : new SlotStore(root, ownedSlotFs(readableSlotFs, owned));
  const vmState = new BootStateFile(slotPaths.vmState(dataDir), owned === undefined ? nodeFs : ownedSlotFs(nodeFs, owned));
  return {
    store,
    sw: slotBoot(store, new BootStateFile(slotPaths.swState(dataDir)), releasePublicKey, board),
    vms: slotBoot(vmStore, vmState, releasePublicKey, board),
  };
}

/**
 * The boot state `boot` reads, made usable: a corrupt one (a storage fault or tampering — never a
 * power cut, the writes are atomic) is moved aside and rebuilt from what verifies in the slots, and
 * said loudly through `warn`. A missing one is left for `ensureInstalled`; an unreadable one throws.
 */
export function recoverBootState(boot: SlotBoot, warn: (line: string) => void): void {
  try {
    boot.state();
  } catch (e) {
    if (e instanceof SlotError && e.code === 'no-state') return;
    if (!(e instanceof BootStateError && e.code === 'corrupt')) throw e;
    const { state, movedAside } = boot.rebuild();
    warn(
      `CORRUPT BOOT STATE ${e.message}; moved aside to ${movedAside ?? '(nowhere)'} and rebuilt from the slots that verify: ${
        Object.entries(state.domains)
          .map(([label, d]) => `${label} v${d.versions[d.active]}`)
          .join(', ') || 'none'
      }`,
    );
  }
}

/** One domain's image as the verified artifacts carry it. */
function carried(verified: VerifiedArtifacts, label: string): ReleaseImage {
  return {
    manifest: verified.manifestBytes,
    signature: verified.signature,
    bundle: verified.files.get(bundleFile(label))!,
  };
}

/**
 * Installs the images the device was installed with where its slots hold none (the first start, or a
 * service added since); the recovery path into both slots. What the slots hold otherwise wins: they
 * may carry a newer committed version than the install medium.
 */
export function installCarried(slots: DeviceSlots, verified: VerifiedArtifacts, board: BoardProfile): InstallReport[] {
  const images = (labels: readonly string[]) => new Map(labels.map((l) => [l, carried(verified, l)] as const));
  const reports = [slots.sw.ensureInstalled(images(SW_LABELS)), slots.vms.ensureInstalled(images(vmLabels(board)))];
  for (const [boot, labels] of [
    [slots.sw, SW_LABELS],
    [slots.vms, vmLabels(board)],
  ] as const) {
    for (const label of labels) {
      const d = boot.state().domains[label];
      // The second copy of a recovery-path image.
      if (RECOVERY_PATH.includes(label) && d !== undefined && SLOT_NAMES.some((s) => d.versions[s] === undefined)) boot.mirror(label);
    }
  }
  return reports;
}

/**
 * Modules loaded from verified slot bytes (one process), by digest: every valid slot is loaded at
 * start, every installed image before its domain boots on it, so a boot never waits for an import.
 */
export class ModuleCache {
  private readonly modules = new Map<string, unknown>();
  private readonly byLabel = new Map<string, unknown>();
  private readonly loading = new Set<Promise<unknown>>();

  async add(label: string, image: VerifiedImage, bytes: ReleaseImage): Promise<void> {
    const key = Buffer.from(image.digest).toString('hex');
    if (this.modules.has(key)) return;
    const loading = importDomain(label, image.manifest, bytes.bundle);
    this.loading.add(loading);
    try {
      const m = await loading;
      this.modules.set(key, m);
      this.byLabel.set(label, m);
    } finally {
      this.loading.delete(loading);
    }
  }

  /** Resolves once no import is under way (what simulations wait for before moving time on). */
  async idle(): Promise<void> {
    while (this.loading.size > 0) await Promise.allSettled([...this.loading]);
  }

  /**
   * Some loaded module of `label`, for what every version shares (its channel contract and runtime):
   * the plumbing of a VM held down until it is restored.
   */
  anyOf<T>(label: string): T | undefined {
    return this.byLabel.get(label) as T | undefined;
  }

  /** Loads what every slot of `labels` validly holds. */
  async preload(
    slots: Pick<DeviceSlots, 'store'>,
    labels: readonly string[],
    board: BoardProfile,
    releasePublicKey: Uint8Array,
  ): Promise<void> {
    for (const label of labels)
      for (const slot of SLOT_NAMES) {
        const check = slots.store.verify(label, slot, releasePublicKey, board.id, maxBundleBytes(board, label));
        if (check.ok) await this.add(label, check.image, check.bytes);
      }
  }

  get<T>(digest: Uint8Array): T {
    const m = this.modules.get(Buffer.from(digest).toString('hex'));
    if (m === undefined) throw new Error('no module loaded for this image (a slot was written without loading it)');
    return m as T;
  }
}
