/**
 * `dominion publish` before it touches a database (docs/ARCHITECTURE.md §5, §7): the artifacts dir
 * verified against the release key (the one pinned, or the one given for the first publish), and the
 * images of this hub's role picked and checked as a device would check what it fetches. Each store
 * then writes the plan in one transaction with its audit rows (sqlite/releases.ts,
 * postgres/releases.ts), checking the pin again inside it and refusing other bytes under a published
 * (board, label, version): a release never changes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, hex, keyIdOf, nodeBackend } from '../crypto/index.ts';
import {
  ArtifactError,
  bundleFile,
  labelOfBundle,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  verifyArtifacts,
  verifyReleaseImage,
  type VerifiedImage,
} from '../release/index.ts';
import { MANIFEST_MAX_BYTES, MANIFEST_SIGNATURE_MAX_BYTES } from '../../proto/index.ts';
import { releaseLabels, type ReleaseSummary } from './releases.ts';
import { roleName, type HubRole } from './role.ts';
import { HubStoreError } from './sqlite/errors.ts';

export type ReleaseErrorCode =
  /** No release key is pinned yet and none was given. */
  | 'no-key'
  /** The given key is not the pinned one. */
  | 'wrong-key'
  /** Other bytes are published already under the same board, label and version. */
  | 'conflict'
  /** The artifacts hold no image of this hub's role. */
  | 'no-images'
  /** The manifest or its signature is larger than an image chunk can carry. */
  | 'too-big';

/** A publish that must not happen; the message names what to do. Never carries key or image bytes. */
export class ReleaseError extends Error {
  override readonly name = 'ReleaseError';
  constructor(
    readonly code: ReleaseErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Where the pinned release key lives in either store's `meta` table. */
export const PIN_KEY = 'release_key';

export interface PublishOptions {
  /** The release public key; required until one is pinned, then it must be the pinned one. */
  readonly releasePub?: Uint8Array;
  readonly nowMs?: number;
}

export interface PublishedImage {
  readonly label: string;
  readonly version: number;
  readonly bytes: number;
  /** SHA-512 of the bundle. */
  readonly digest: Uint8Array;
  /** `stored`: new; `unchanged`: these exact bytes were published already. */
  readonly status: 'stored' | 'unchanged';
}

export interface PublishResult {
  readonly board: string;
  readonly images: readonly PublishedImage[];
  /** Bundles in the artifacts that belong to other hubs' roles (not stored here). */
  readonly skipped: readonly string[];
  /** The key id (hex) of the release key, and whether this publish pinned it. */
  readonly keyId: string;
  readonly pinned: boolean;
}

/** What a store writes: verified bytes, exactly as signed. */
export interface ReleasePlan {
  readonly key: Uint8Array;
  readonly board: string;
  readonly manifest: Uint8Array;
  readonly signature: Uint8Array;
  readonly images: ReadonlyArray<{ readonly label: string; readonly bundle: Uint8Array; readonly image: VerifiedImage }>;
  readonly skipped: readonly string[];
  /** True when no key was pinned before: the store pins `key` in the same transaction. */
  readonly pinsKey: boolean;
}

/**
 * Verifies `dir` for a hub of `role` whose database pins `pinned` (or nothing yet). Throws
 * ReleaseError, ArtifactError (the artifacts do not verify) or HubStoreError (no hub identity).
 */
export function planRelease(
  where: string,
  role: HubRole | undefined,
  pinned: Uint8Array | undefined,
  dir: string,
  options: PublishOptions,
): ReleasePlan {
  if (role === undefined)
    throw new HubStoreError('refused', `${where}: belongs to no hub yet (start it once with "dominion hub --init …" or enrol a device)`);
  const key = options.releasePub ?? pinned;
  if (key === undefined) throw new ReleaseError('no-key', 'no release key is pinned in this hub database yet: give --release-pub <key>');
  if (pinned !== undefined) checkPin(pinned, key, 'pins');
  const verified = verifyArtifacts(dir, key);
  // The exact bytes as signed: read once more, and held to the digest verifyArtifacts checked.
  const manifest = read(dir, MANIFEST_FILE);
  const signature = read(dir, SIGNATURE_FILE);
  if (!bytesEqual(nodeBackend().sha512(manifest), verified.manifestDigest))
    throw new ArtifactError('digest-mismatch', MANIFEST_FILE, 'changed while it was being published');
  if (manifest.length > MANIFEST_MAX_BYTES || signature.length > MANIFEST_SIGNATURE_MAX_BYTES) {
    throw new ReleaseError(
      'too-big',
      `${MANIFEST_FILE} (${manifest.length} bytes) or ${SIGNATURE_FILE} (${signature.length}) exceeds what an image chunk carries (${MANIFEST_MAX_BYTES}, ${MANIFEST_SIGNATURE_MAX_BYTES})`,
    );
  }
  const ours = releaseLabels(role);
  const bundles = Object.entries(verified.manifest.files)
    .filter(([, entry]) => entry.domain !== undefined)
    .map(([file]) => labelOfBundle(file));
  const wanted = bundles.filter((label) => ours.includes(label));
  if (wanted.length === 0) {
    throw new ReleaseError(
      'no-images',
      `${dir}: no image for this hub (${roleName(role)} serves ${ours.join(', ')}); the manifest lists ${bundles.join(', ') || 'no bundles'}`,
    );
  }
  const board = verified.manifest.board;
  const images = wanted.map((label) => {
    const bundle = verified.files.get(bundleFile(label))!;
    // The same check a device runs on what it fetches, on exactly the bytes stored.
    return { label, bundle, image: verifyReleaseImage({ manifest, signature, bundle }, label, key, board) };
  });
  return {
    key,
    board,
    manifest,
    signature,
    images,
    skipped: bundles.filter((label) => !ours.includes(label)),
    pinsKey: pinned === undefined,
  };
}

/** Inside the store's transaction: another publish may have pinned a key meanwhile. */
export function checkPinNow(pinnedNow: Uint8Array | undefined, key: Uint8Array): void {
  if (pinnedNow !== undefined) checkPin(pinnedNow, key, 'now pins');
}

/**
 * Whether one planned image is new, the same bytes again, or a conflict (throws), against the row a
 * store has under its (board, label, version).
 */
export function imageStatus(
  plan: ReleasePlan,
  planned: ReleasePlan['images'][number],
  existing: { manifest: Uint8Array; signature: Uint8Array; bundle: Uint8Array } | undefined,
): PublishedImage {
  const { label, bundle, image } = planned;
  const result = { label, version: image.version, bytes: bundle.length, digest: image.digest };
  if (existing === undefined) return { ...result, status: 'stored' };
  if (
    !bytesEqual(existing.manifest, plan.manifest) ||
    !bytesEqual(existing.signature, plan.signature) ||
    !bytesEqual(existing.bundle, bundle)
  ) {
    throw new ReleaseError(
      'conflict',
      `${label} release ${image.version} for board ${plan.board} is published already with other bytes; a release never changes — build a new version (dominion build --release-version)`,
    );
  }
  return { ...result, status: 'unchanged' };
}

/** The audit details of a publish: the key pinned (if it was), and what was stored. */
export function publishAudit(plan: ReleasePlan, results: readonly PublishedImage[]): { pinned?: string; published?: string } {
  const stored = results.filter((r) => r.status === 'stored');
  return {
    ...(plan.pinsKey ? { pinned: `release key ${keyIdHex(plan.key)} pinned` } : {}),
    ...(stored.length > 0 ? { published: `board ${plan.board}: ${stored.map((r) => `${r.label} ${r.version}`).join(', ')}` } : {}),
  };
}

export function publishResult(plan: ReleasePlan, images: readonly PublishedImage[]): PublishResult {
  return { board: plan.board, images, skipped: plan.skipped, keyId: keyIdHex(plan.key), pinned: plan.pinsKey };
}

/** A release row without its bytes, as `dominion releases` lists it. */
export function releaseSummary(r: {
  board: string;
  label: string;
  version: number;
  issued_at_ms: number;
  manifest: Uint8Array;
  bundle_sha512: Uint8Array;
  bundle_bytes: number;
  published_at_ms: number;
}): ReleaseSummary {
  return {
    board: r.board,
    label: r.label,
    version: r.version,
    issuedAt: r.issued_at_ms,
    digest: new Uint8Array(r.bundle_sha512),
    bytes: r.bundle_bytes,
    manifestDigest: nodeBackend().sha512(r.manifest),
    publishedAt: r.published_at_ms,
  };
}

function checkPin(pinned: Uint8Array, key: Uint8Array, verb: string): void {
  if (!bytesEqual(pinned, key))
    throw new ReleaseError(
      'wrong-key',
      `this hub ${verb} release key ${keyIdHex(pinned)}; the given key ${keyIdHex(key)} is another one (a hub serves one release key's images)`,
    );
}

function keyIdHex(key: Uint8Array): string {
  return hex(keyIdOf(nodeBackend(), key));
}

function read(dir: string, file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(join(dir, file)));
  } catch (err) {
    throw new ArtifactError('missing', file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
