/**
 * The keeper of the VMs' image slots (actors/hypervisor/vm-images.ts `VmImageKeeper`) on a device:
 * SlotBoot (actors/slots) for the files and the boot state, plus the placement's way of running what
 * a slot holds — in one process the verified bytes are imported before the VM boots (`load`); in
 * `process` placement the VM's process is started on the slot and verifies it itself.
 *
 * Every boot of a VM opens its slot (that is where a trial's tries are taken); the first boot's choice
 * is made before the hypervisor starts (`prime`), so each VM's code is loaded before it must run.
 */
import type { SlotReport } from '../../proto/index.ts';
import type { VmImageKeeper } from '../hypervisor/index.ts';
import { verifyReleaseImage, type ReleaseImage, type VerifiedImage } from '../release/index.ts';
import { inactiveSlot, SlotError, type SlotBoot, type SlotName } from '../slots/index.ts';
import type { FetchedImage } from '../transfer/index.ts';
import type { SlotEvent } from './status.ts';
import { keepTwoCopies, slotReport, wantsUpdate, type Wants } from './slot-keeping.ts';

/** The image a VM boots now: which slot, and what it holds. */
export interface OpenedImage {
  readonly slot: SlotName;
  readonly image: VerifiedImage;
  readonly bytes: ReleaseImage;
  readonly trial: boolean;
}

export interface VmKeeperOptions {
  readonly slots: SlotBoot;
  readonly board: string;
  readonly releasePublicKey: Uint8Array;
  /** The largest bundle accepted for a VM (its domain's budget), in bytes. */
  readonly maxBytes: (instance: string) => number;
  /**
   * Makes a newly installed image runnable before its VM boots on it (one process: imports the
   * bytes). Its failure refuses the image. Default: nothing to do (the VM's process loads the slot).
   */
  readonly load?: (instance: string, opened: OpenedImage) => Promise<void>;
  readonly events?: (event: SlotEvent) => void;
  readonly now: () => number;
  /** Labels kept in two copies (the recovery path's `mm`): mirrored after a commit or a fallback. */
  readonly mirrored?: readonly string[];
}

export class VmSlotKeeper implements VmImageKeeper {
  readonly board: string;
  /** What each VM boots now (set at every boot that found a good slot). */
  private readonly current = new Map<string, OpenedImage>();
  /** The first boot's choice, made by `prime`, used by the first `check`. */
  private readonly primed = new Map<string, OpenedImage | { readonly version: number; readonly reason: string }>();

  constructor(private readonly o: VmKeeperOptions) {
    this.board = o.board;
  }

  /**
   * Opens every VM's slot for its first boot, before the hypervisor starts: what the boot ticket binds
   * (`primedImages`), and what the first `check` of each VM then uses.
   */
  prime(instances: readonly string[]): void {
    for (const instance of instances) this.primed.set(instance, this.open(instance));
  }

  /** The images the VMs will first boot, as `prime` opened them (a VM held for a restore is left out). */
  primedImages(): Array<{ readonly label: string; readonly version: bigint; readonly digest: Uint8Array }> {
    return [...this.primed].flatMap(([label, o]) =>
      'slot' in o ? [{ label, version: BigInt(o.image.version), digest: o.image.digest }] : [],
    );
  }

  /**
   * The images the VMs boot now, in `instances`' order: each one's running image, else the one `prime`
   * opened for its first boot (what a boot ticket binds; it changes when a VM is restored or updated).
   */
  bootImages(instances: readonly string[]): Array<{ readonly label: string; readonly version: bigint; readonly digest: Uint8Array }> {
    return instances.flatMap((label) => {
      const o = this.current.get(label) ?? this.primed.get(label);
      return o !== undefined && 'slot' in o ? [{ label, version: BigInt(o.image.version), digest: o.image.digest }] : [];
    });
  }

  /** The image `instance` runs now (undefined while it is held down for a restore). */
  running(instance: string): OpenedImage | undefined {
    return this.current.get(instance);
  }

  check(instance: string): { readonly kind: 'boot' } | { readonly kind: 'fetch'; readonly version: number; readonly reason: string } {
    const primed = this.primed.get(instance);
    this.primed.delete(instance);
    const opened = primed ?? this.open(instance);
    if (!('slot' in opened)) {
      this.current.delete(instance);
      return { kind: 'fetch', version: opened.version, reason: opened.reason };
    }
    this.current.set(instance, opened);
    return { kind: 'boot' };
  }

  async install(instance: string, image: FetchedImage, purpose: 'restore' | 'update', version: number): Promise<string | undefined> {
    const refused = await this.installing(instance, image, purpose, version);
    // A refused update is recorded as failed (SlotBoot already did, for what it refused itself).
    if (refused !== undefined && purpose === 'update') this.updating(instance, version, refused);
    return refused;
  }

  private async installing(
    instance: string,
    image: FetchedImage,
    purpose: 'restore' | 'update',
    version: number,
  ): Promise<string | undefined> {
    try {
      // Verified before anything of it is loaded or written; SlotBoot verifies again as it writes.
      const verified = verifyReleaseImage(image, instance, this.o.releasePublicKey, this.board);
      if (verified.version !== version) return `the hub sent version ${verified.version}, not ${version}`;
      const slots = this.o.slots;
      // Loaded before it is written: once the slot and the boot state hold it, the VM's next boot (its
      // AWDT may expire any moment) runs it, and its code must be there by then.
      const into = inactiveSlot(slots.state(), instance);
      await this.o.load?.(instance, { slot: into, image: verified, bytes: image, trial: purpose === 'update' });
      if (purpose === 'restore') slots.restore(instance, image);
      else slots.installUpdate(instance, image, version);
      return undefined;
    } catch (e) {
      if (e instanceof SlotError) return e.message;
      return `could not install: ${(e as Error).message}`;
    }
  }

  wants(instance: string, version: number): Wants {
    return wantsUpdate(this.o.slots, instance, version);
  }

  updating(instance: string, version: number, failed?: string): void {
    try {
      if (failed === undefined) this.o.slots.beginUpdate(instance, version);
      else this.o.slots.failUpdate(instance, version, failed);
    } catch (e) {
      if (!(e instanceof SlotError)) throw e;
    }
  }

  ticket(instance: string): void {
    const opened = this.current.get(instance);
    if (opened?.trial !== true) return;
    if (this.o.slots.commit(instance)) {
      this.current.set(instance, { ...opened, trial: false });
      this.o.events?.({ type: 'slot', label: instance, what: 'committed', version: opened.image.version, at: this.o.now() });
      this.keepTwoCopies(instance);
    }
  }

  report(instance: string): SlotReport | undefined {
    return slotReport(this.o.slots, instance);
  }

  maxBytes(instance: string): number {
    return this.o.maxBytes(instance);
  }

  /** A recovery-path image (mm) is kept in both slots: after a commit, and after a fallback repairs the tampered copy. */
  private keepTwoCopies(instance: string): void {
    if (this.o.mirrored?.includes(instance)) keepTwoCopies(this.o.slots, instance);
  }

  /** Opens `instance`'s slot for a boot, telling what the bootloader did on the way. */
  private open(instance: string): OpenedImage | { readonly version: number; readonly reason: string } {
    const outcome = this.o.slots.open(instance);
    const at = this.o.now();
    if (outcome.rolledBack !== undefined)
      this.o.events?.({
        type: 'slot',
        label: instance,
        what: 'rolled-back',
        version: outcome.rolledBack.version,
        detail: outcome.rolledBack.detail,
        at,
      });
    if (outcome.kind === 'restore') return { version: outcome.version, reason: outcome.reason };
    if (outcome.fellBack !== undefined) {
      this.o.events?.({
        type: 'slot',
        label: instance,
        what: 'fell-back',
        version: outcome.image.version,
        detail: outcome.fellBack.reason,
        at,
      });
      this.keepTwoCopies(instance);
    }
    if (outcome.trial) this.o.events?.({ type: 'slot', label: instance, what: 'trial', version: outcome.image.version, at });
    return { slot: outcome.slot, image: outcome.image, bytes: outcome.bytes, trial: outcome.trial };
  }
}
