/**
 * The image slots on disk: `<root>/<label, ':' → '-'>/<a|b>/` holds one domain's release image as
 * the release ships it — `manifest.json`, `manifest.sig` and the bundle (`bundleFile(label)`).
 *
 * A slot is replaced whole: the files are written and fsynced into `<slot>.staging`, the old slot
 * is renamed to `<slot>.old`, the staging dir renamed into place and the parent fsynced. A power
 * cut leaves the slot absent or complete, never half written; stale `.staging` and `.old` dirs are
 * removed by the next install and never read. (POSIX has no rename over a non-empty directory, and
 * Node no RENAME_EXCHANGE, hence the brief moment without a slot — which only ever concerns the
 * inactive slot: the active one is never written.)
 *
 * Reading checks each file's size on its open descriptor before reading it, against fixed caps for
 * the manifest and signature and the board's cap for the bundle: an endless or huge file, a FIFO
 * or a symbolic link is refused without being read. Nothing read here is trusted until `verify`
 * has checked it against the pinned release key.
 */
import { join } from 'node:path';
import {
  ArtifactError,
  bundleFile,
  labelOfBundle,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  verifyReleaseImage,
  type ReleaseImage,
  type VerifiedImage,
} from '../release/index.ts';
import { labelProblem, type SlotName } from './boot-state.ts';
import { SlotError } from './errors.ts';
import { nodeFs, readBounded, syncDir, writeSynced, type SlotFs } from './fs.ts';

/** A manifest lists a board's dozen files; 64 KiB is far beyond any. */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** `manifest.sig` is a few hundred bytes of JSON. */
export const MAX_SIGNATURE_BYTES = 4 * 1024;

export type SlotCheck =
  | { readonly ok: true; readonly image: VerifiedImage; readonly bytes: ReleaseImage }
  | { readonly ok: false; readonly error: ArtifactError };

/** The directory name of a domain's slots: `sm:sensor` → `sm-sensor`. Throws SlotError `bad-label`. */
export function labelDir(label: string): string {
  const problem = labelProblem(label);
  if (problem !== undefined) throw new SlotError('bad-label', `${JSON.stringify(label)}: ${problem}`);
  return label.replace(':', '-');
}

export class SlotStore {
  constructor(
    readonly root: string,
    private readonly fs: SlotFs = nodeFs,
  ) {}

  slotDir(label: string, slot: SlotName): string {
    return join(this.root, labelDir(label), slot);
  }

  /**
   * Writes `image` as the whole content of `label`'s `slot`. The caller verified it and never
   * passes the active slot (SlotBoot does both); this only makes the write crash-safe.
   */
  install(label: string, slot: SlotName, image: ReleaseImage): void {
    const dir = join(this.root, labelDir(label));
    const target = join(dir, slot);
    const staging = `${target}.staging`;
    const old = `${target}.old`;
    this.fs.mkdirSync(dir);
    this.fs.rmSync(staging);
    this.fs.rmSync(old);
    this.fs.mkdirSync(staging);
    writeSynced(this.fs, join(staging, MANIFEST_FILE), image.manifest);
    writeSynced(this.fs, join(staging, SIGNATURE_FILE), image.signature);
    writeSynced(this.fs, join(staging, bundleFile(label)), image.bundle);
    syncDir(this.fs, staging);
    try {
      this.fs.renameSync(target, old);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.fs.renameSync(staging, target);
    syncDir(this.fs, dir);
    // The label dir may be new too: its entry in the root must last as well.
    syncDir(this.fs, this.root);
    this.fs.rmSync(old);
  }

  /**
   * The release image in `label`'s `slot`, or undefined when the slot is absent. Throws
   * ArtifactError when the slot lacks a file or holds one that is too large or not a regular file.
   */
  read(label: string, slot: SlotName, maxBundleBytes: number): ReleaseImage | undefined {
    const dir = this.slotDir(label, slot);
    try {
      this.fs.readdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw new ArtifactError('missing', dir, `cannot be read (${code ?? (e as Error).message})`);
    }
    return {
      manifest: this.file(dir, MANIFEST_FILE, MAX_MANIFEST_BYTES, 'malformed'),
      signature: this.file(dir, SIGNATURE_FILE, MAX_SIGNATURE_BYTES, 'malformed'),
      // A bundle beyond the board's cap cannot match any manifest a release would sign for the board.
      bundle: this.file(dir, bundleFile(label), maxBundleBytes, 'digest-mismatch'),
    };
  }

  /** Reads the slot and verifies it against the pinned release key, the board and the label; never throws an ArtifactError. */
  verify(label: string, slot: SlotName, releasePublicKey: Uint8Array, board: string, maxBundleBytes: number): SlotCheck {
    try {
      const bytes = this.read(label, slot, maxBundleBytes);
      if (bytes === undefined) return { ok: false, error: new ArtifactError('missing', `${labelDir(label)}/${slot}`, 'the slot is empty') };
      return { ok: true, image: verifyReleaseImage(bytes, label, releasePublicKey, board), bytes };
    } catch (e) {
      if (e instanceof ArtifactError) return { ok: false, error: e };
      throw e;
    }
  }

  /** The domains that have a directory in the store (for rebuilding a lost boot state). */
  labels(): string[] {
    let names: string[];
    try {
      names = this.fs.readdirSync(this.root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names
      .map((name) => labelOfBundle(`${name}.mjs`))
      .filter((label) => labelProblem(label) === undefined)
      .sort();
  }

  private file(dir: string, name: string, max: number, oversized: 'malformed' | 'digest-mismatch'): Uint8Array {
    const path = join(dir, name);
    const read = readBounded(this.fs, path, max);
    switch (read.kind) {
      case 'ok':
        return read.bytes;
      case 'missing':
        throw new ArtifactError('missing', name, `not found in ${dir}`);
      case 'too-large':
        throw new ArtifactError(oversized, name, `is ${read.size} bytes, more than the ${max} allowed; not read`);
      case 'not-a-file':
        throw new ArtifactError(oversized, name, `in ${dir} is not a regular file; not read`);
      case 'unreadable':
        throw new ArtifactError('missing', name, `cannot be read (${read.code})`);
    }
  }
}
