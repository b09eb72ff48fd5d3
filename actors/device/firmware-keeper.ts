/**
 * The keeper of `sw`'s and the hypervisor's slots (actors/sw/device-update.ts `DeviceImageKeeper`):
 * `sw`'s bootloader. A device update installs both images as one trial; the next boot opens them
 * (taking a try), and the device AWDT's first valid ticket commits both — then both are mirrored, as
 * the recovery path is kept in two copies.
 */
import type { FirmwareLabel, DeviceImageKeeper } from '../sw/index.ts';
import { FIRMWARE_LABELS } from '../sw/index.ts';
import { verifyReleaseImage, type VerifiedImage } from '../release/index.ts';
import { SlotError, type SlotBoot } from '../slots/index.ts';
import type { FetchedImage } from '../transfer/index.ts';
import { keepTwoCopies, wantsUpdate, type Wants } from './slot-keeping.ts';
import type { SlotEvent } from './status.ts';

export interface FirmwareKeeperOptions {
  readonly slots: SlotBoot;
  readonly board: string;
  readonly releasePublicKey: Uint8Array;
  readonly maxBytes: (label: FirmwareLabel) => number;
  /** Which of the two this boot runs on trial (as its bootloader opened them). */
  readonly trial: ReadonlySet<FirmwareLabel>;
  /** Makes an installed image runnable before the device boots on it (one process: imports it). */
  readonly load?: (label: FirmwareLabel, image: VerifiedImage, bytes: FetchedImage) => Promise<void>;
  readonly events?: (event: SlotEvent) => void;
  readonly now: () => number;
}

export class FirmwareSlotKeeper implements DeviceImageKeeper {
  readonly board: string;
  private readonly trial: Set<FirmwareLabel>;

  constructor(private readonly o: FirmwareKeeperOptions) {
    this.board = o.board;
    this.trial = new Set(o.trial);
  }

  wants(version: number): Wants {
    const wants = FIRMWARE_LABELS.map((label) => wantsUpdate(this.o.slots, label, version));
    return wants.find((w) => w.fetch) ?? wants[0]!;
  }

  updating(version: number, failed?: string): void {
    for (const label of FIRMWARE_LABELS) {
      try {
        if (failed === undefined) this.o.slots.beginUpdate(label, version);
        else this.o.slots.failUpdate(label, version, failed);
      } catch (e) {
        if (!(e instanceof SlotError)) throw e;
      }
    }
  }

  async install(images: Readonly<Record<FirmwareLabel, FetchedImage>>, version: number): Promise<string | undefined> {
    try {
      // Both verified (and loaded) before either is written: a bad hypervisor leaves sw untouched.
      for (const label of FIRMWARE_LABELS) {
        const verified = verifyReleaseImage(images[label], label, this.o.releasePublicKey, this.board);
        if (verified.version !== version) return `${label}: the hub sent version ${verified.version}, not ${version}`;
        await this.o.load?.(label, verified, images[label]);
      }
      for (const label of FIRMWARE_LABELS) this.o.slots.installUpdate(label, images[label], version);
      return undefined;
    } catch (e) {
      if (e instanceof SlotError) return e.message;
      return `could not install: ${(e as Error).message}`;
    }
  }

  ticket(): void {
    if (this.trial.size === 0) return;
    for (const label of [...this.trial]) {
      this.trial.delete(label);
      if (!this.o.slots.commit(label)) continue;
      this.o.events?.({ type: 'slot', label, what: 'committed', version: this.o.slots.report(label).version, at: this.o.now() });
      keepTwoCopies(this.o.slots, label);
    }
  }

  maxBytes(label: FirmwareLabel): number {
    return this.o.maxBytes(label);
  }
}
