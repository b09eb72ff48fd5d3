/**
 * What the VMs will boot, as `sw` learns it before it asks the IH for a boot ticket, when the VMs'
 * bootloader is another process's (`process` and `split` placement: the hypervisor owns the VMs' boot
 * state and slots, docs/ARCHITECTURE.md §5).
 *
 * `sw` runs the hypervisor's own decision on a scratch copy: the same SlotBoot, over the same slots
 * and the same boot state file, read but never written — each `open` takes its trial's try, rolls
 * back or falls back in memory only. The hypervisor process then opens the same slots for real and,
 * since the files have not changed meanwhile (no hypervisor process runs between the two), decides
 * the same; it checks that it did (the images `sw` previewed travel in its bootstrap) before any VM
 * runs, so the IH's grant always names exactly the images that boot.
 *
 * Why not have the hypervisor report its images over the sw↔hypervisor channel instead: `sw`'s boot
 * gate takes its images when it starts, and `sw` starts before the hypervisor does (the device AWDT
 * is armed first); waiting for a report would mean a new frame type and new code in `sw`'s image,
 * which is within bytes of its budget. The preview needs neither, and `sw` (root) may read every slot.
 */
import type { BoardProfile } from '../../boards/index.ts';
import type { BootImageLike } from '../../proto/index.ts';
import { BootStateFile, type BootState, type SlotStore } from '../slots/index.ts';
import { recoverBootState, slotBoot, slotPaths } from './device-slots.ts';

/** A boot state file that is read from disk once and then lives in memory: writes never reach the disk. */
class ScratchStateFile extends BootStateFile {
  private scratch: { readonly state: BootState | undefined } | undefined;

  override read(): BootState | undefined {
    return this.scratch === undefined ? super.read() : this.scratch.state;
  }

  override write(state: BootState): void {
    this.scratch = { state };
  }

  override moveAside(): string {
    this.scratch = { state: undefined };
    return `${this.path}.corrupt (not moved: a preview)`;
  }
}

/**
 * The images the VMs of `labels` will first boot this time, in that order, as the hypervisor's
 * bootloader will open them (a VM it will hold down for a restore is left out, as it is from the boot
 * request). Writes nothing.
 */
export function previewVmImages(
  store: SlotStore,
  dataDir: string,
  labels: readonly string[],
  releasePublicKey: Uint8Array,
  board: BoardProfile,
): BootImageLike[] {
  const boot = slotBoot(store, new ScratchStateFile(slotPaths.vmState(dataDir)), releasePublicKey, board);
  // The hypervisor rebuilds a corrupt state before it opens anything (and says so): so does the preview, silently.
  recoverBootState(boot, () => {});
  return labels.flatMap((label) => {
    const opened = boot.open(label);
    return opened.kind === 'ok' ? [{ label, version: BigInt(opened.image.version), digest: opened.image.digest }] : [];
  });
}
