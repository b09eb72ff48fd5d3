/**
 * The hypervisor process's part of a boot on slots (`process` and `split` placement,
 * docs/ARCHITECTURE.md §5): it loads its own image from the slot `sw` opened, and it is the VMs'
 * bootloader — their boot state (`<data>/hypervisor/boot-state.json`) and slots are this process's to
 * write. It opens each VM's slot for its first boot exactly as `sw` previewed (vm-preview.ts), or
 * refuses to boot: the IH's grant must name the images that run.
 */
import { validateBoard, type BoardProfile } from '../../../boards/index.ts';
import { bytesEqual } from '../../crypto/index.ts';
import { type BootImageLike } from '../../../proto/index.ts';
import type { VerifiedImage } from '../../release/index.ts';
import { BootStateFile, SlotStore } from '../../slots/index.ts';
import { recoverBootState, slotBoot, slotPaths, type ModuleCache } from '../device-slots.ts';
import type { HypervisorImage } from '../images.ts';
import { readableSlotFs } from '../slot-access.ts';
import { openVms } from '../slotted.ts';
import type { VmSlotKeeper } from '../vm-keeper.ts';
import { hexBootImages, type HypervisorBootstrap } from './bootstrap.ts';
import { writeEvent } from './event-lines.ts';
import { loadSlotImage } from './slot-image.ts';

/** The hypervisor's own image, verified from its slot, and the board it runs. */
export async function loadHypervisor(
  b: HypervisorBootstrap,
  releasePub: Uint8Array,
): Promise<{ readonly hypervisor: HypervisorImage; readonly image: VerifiedImage; readonly board: BoardProfile }> {
  const board = validateBoard(b.board, 'bootstrap board');
  if (board.placement !== b.placement) throw new Error(`the board ${board.id} runs ${board.placement} placement, not ${b.placement}`);
  const { module, image } = await loadSlotImage<HypervisorImage>(b.slots, 'hypervisor', b.image, releasePub, board);
  return { hypervisor: module, image, board };
}

/**
 * Opens every VM's slot for its first boot, as the VMs' bootloader (a corrupt boot state is rebuilt
 * first, loudly), and checks the images are those `sw` asks the IH to grant. `modules`: the VMs run in
 * this process (`split`), and their code is loaded here; none: each VM's process loads its slot.
 */
export async function openVmSlots(
  b: HypervisorBootstrap,
  board: BoardProfile,
  releasePub: Uint8Array,
  o: { readonly now: () => number; readonly modules?: ModuleCache; readonly labels: readonly string[] },
): Promise<{ readonly keeper: VmSlotKeeper; readonly images: BootImageLike[] }> {
  const store = new SlotStore(b.slots, readableSlotFs);
  const vms = slotBoot(store, new BootStateFile(slotPaths.vmState(b.dataDir)), releasePub, board);
  recoverBootState(vms, (line) => process.stderr.write(`[hypervisor] ${line}\n`));
  await o.modules?.preload({ store }, o.labels, board, releasePub);
  const opened = openVms({ slots: vms, board, releasePublicKey: releasePub, modules: o.modules, events: writeEvent, now: o.now });
  const previewed = hexBootImages.from(b.gate);
  if (!sameImages(previewed, opened.images))
    throw new Error(
      `the VMs' slots changed between sw's preview and this boot (sw asks the IH to grant ${describe(previewed)}; the slots open ${describe(opened.images)}): not booting them`,
    );
  return opened;
}

function sameImages(a: readonly BootImageLike[], b: readonly BootImageLike[]): boolean {
  return (
    a.length === b.length && a.every((x, i) => x.label === b[i]!.label && x.version === b[i]!.version && bytesEqual(x.digest, b[i]!.digest))
  );
}

function describe(images: readonly BootImageLike[]): string {
  return images.map((i) => `${i.label} v${i.version}`).join(', ') || 'none';
}
