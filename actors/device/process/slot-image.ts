/**
 * A domain process's own image, loaded from the slot its parent opened (`process` and `split`
 * placement): the process reads that slot itself, verifies it against the pinned release key, the
 * board and its label, checks it is exactly the image its parent opened (a slot rewritten since is
 * refused, not run), and imports its bundle from the verified bytes — never from the files again, and
 * nothing of any other domain's.
 */
import type { BoardProfile } from '../../../boards/index.ts';
import { bytesEqual, fromHex } from '../../crypto/index.ts';
import { ArtifactError, bundleFile, type VerifiedImage } from '../../release/index.ts';
import { SlotStore } from '../../slots/index.ts';
import { importDomain } from '../artifacts.ts';
import { maxBundleBytes } from '../device-slots.ts';
import type { SlotRef } from './bootstrap.ts';

export interface SlotModule<T> {
  readonly module: T;
  readonly image: VerifiedImage;
}

/** Verifies `label`'s slot `ref` under `slots` and imports its bundle. Throws ArtifactError. */
export async function loadSlotImage<T extends { ENTRY_ABI: number; DOMAIN: string }>(
  slots: string,
  label: string,
  ref: SlotRef,
  releasePublicKey: Uint8Array,
  board: BoardProfile,
): Promise<SlotModule<T>> {
  const store = new SlotStore(slots);
  const check = store.verify(label, ref.slot, releasePublicKey, board.id, maxBundleBytes(board, label));
  if (!check.ok) throw check.error;
  if (!bytesEqual(check.image.digest, fromHex(ref.digest)))
    throw new ArtifactError(
      'digest-mismatch',
      bundleFile(label),
      `in slot ${ref.slot} is not the image its parent opened there (the slot was rewritten since): not run`,
    );
  const module = await importDomain<T>(label, check.image.manifest, check.bytes.bundle);
  return { module, image: check.image };
}
