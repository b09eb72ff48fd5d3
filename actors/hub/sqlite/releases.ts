/**
 * Published releases in the hub database (migration 3, `release`): `dominion publish` stores the
 * images of this hub's role from a built, signed artifacts dir; `dominion releases` lists them; the
 * running hub serves them in chunks through `SqliteReleases` (a bounded cache: a published release
 * never changes, so a cached one is never stale, and a miss is read again next time).
 *
 * The release key is pinned in the database (`meta.release_key`): the first publish pins the key it
 * is given, every later one must be signed by it. A hub thereby serves only what one release key
 * signed, as the devices it serves only boot what that key signed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, fromHex, hex, keyIdOf, nodeBackend } from '../../crypto/index.ts';
import {
  bundleFile,
  labelOfBundle,
  MANIFEST_FILE,
  SIGNATURE_FILE,
  verifyArtifacts,
  verifyReleaseImage,
  ArtifactError,
} from '../../release/index.ts';
import { MANIFEST_MAX_BYTES, MANIFEST_SIGNATURE_MAX_BYTES } from '../../../proto/index.ts';
import { releaseKey, releaseLabels, type PublishedRelease, type ReleaseCatalog, type ReleaseSummary } from '../releases.ts';
import { roleName } from '../role.ts';
import { auditOperator, readHubIdentity } from './admin.ts';
import type { SqliteDatabase } from './database.ts';
import { HubStoreError } from './errors.ts';

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

const PIN_KEY = 'release_key';

/** The pinned release public key, if any. */
export function pinnedReleaseKey(db: SqliteDatabase): Uint8Array | undefined {
  const text = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(PIN_KEY) as string | undefined;
  return text === undefined ? undefined : fromHex(text);
}

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

/**
 * Verifies `dir` (verifyArtifacts: signature by the release key, every file's size and digest) and
 * stores the images of this hub's role, in one transaction with its audit row. Throws ReleaseError,
 * ArtifactError (the artifacts do not verify) or HubStoreError (no hub identity, database trouble).
 */
export function publishArtifacts(db: SqliteDatabase, dir: string, options: PublishOptions = {}): PublishResult {
  const identity = readHubIdentity(db);
  if (identity === undefined)
    throw new HubStoreError('refused', `${db.name}: belongs to no hub yet (start it once with "dominion hub --init …" or enrol a device)`);
  const pinned = pinnedReleaseKey(db);
  const key = options.releasePub ?? pinned;
  if (key === undefined) throw new ReleaseError('no-key', 'no release key is pinned in this hub database yet: give --release-pub <key>');
  if (pinned !== undefined && !bytesEqual(pinned, key)) {
    throw new ReleaseError(
      'wrong-key',
      `this hub pins release key ${hex(keyIdOf(nodeBackend(), pinned))}; the given key ${hex(keyIdOf(nodeBackend(), key))} is another one (a hub serves one release key's images)`,
    );
  }

  const verified = verifyArtifacts(dir, key);
  // The exact bytes as signed: read once more, and held to the digest verifyArtifacts checked.
  const manifest = read(dir, MANIFEST_FILE);
  const signature = read(dir, SIGNATURE_FILE);
  const backend = nodeBackend();
  if (!bytesEqual(backend.sha512(manifest), verified.manifestDigest))
    throw new ArtifactError('digest-mismatch', MANIFEST_FILE, 'changed while it was being published');
  if (manifest.length > MANIFEST_MAX_BYTES || signature.length > MANIFEST_SIGNATURE_MAX_BYTES) {
    throw new ReleaseError(
      'too-big',
      `${MANIFEST_FILE} (${manifest.length} bytes) or ${SIGNATURE_FILE} (${signature.length}) exceeds what an image chunk carries (${MANIFEST_MAX_BYTES}, ${MANIFEST_SIGNATURE_MAX_BYTES})`,
    );
  }

  const ours = releaseLabels(identity.role);
  const bundles = Object.entries(verified.manifest.files)
    .filter(([, entry]) => entry.domain !== undefined)
    .map(([file]) => labelOfBundle(file));
  const wanted = bundles.filter((label) => ours.includes(label));
  if (wanted.length === 0) {
    throw new ReleaseError(
      'no-images',
      `${dir}: no image for this hub (${roleName(identity.role)} serves ${ours.join(', ')}); the manifest lists ${bundles.join(', ') || 'no bundles'}`,
    );
  }
  const images = wanted.map((label) => {
    const bundle = verified.files.get(bundleFile(label))!;
    // The same check a device runs on what it fetches, on exactly the bytes stored.
    const image = verifyReleaseImage({ manifest, signature, bundle }, label, key, verified.manifest.board);
    return { label, bundle, image };
  });

  const nowMs = options.nowMs ?? Date.now();
  const board = verified.manifest.board;
  const results: PublishedImage[] = [];
  const existing = db.prepare('SELECT manifest, manifest_sig, bundle FROM release WHERE board = ? AND label = ? AND version = ?');
  const insert = db.prepare(
    `INSERT INTO release (board, label, version, issued_at_ms, manifest, manifest_sig, bundle, bundle_sha512, bundle_bytes, published_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    // Checked again inside the transaction: another publish may have pinned a key meanwhile.
    const pinnedNow = pinnedReleaseKey(db);
    if (pinnedNow !== undefined && !bytesEqual(pinnedNow, key))
      throw new ReleaseError(
        'wrong-key',
        `this hub now pins release key ${hex(keyIdOf(nodeBackend(), pinnedNow))}, not ${hex(keyIdOf(nodeBackend(), key))}`,
      );
    if (pinnedNow === undefined) {
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(PIN_KEY, hex(key));
      auditOperator(db, nowMs, 'pin-release-key', null, null, `release key ${hex(keyIdOf(nodeBackend(), key))} pinned`);
    }
    for (const { label, bundle, image } of images) {
      const row = existing.get(board, label, image.version) as { manifest: Buffer; manifest_sig: Buffer; bundle: Buffer } | undefined;
      if (row !== undefined) {
        if (!bytesEqual(row.manifest, manifest) || !bytesEqual(row.manifest_sig, signature) || !bytesEqual(row.bundle, bundle)) {
          throw new ReleaseError(
            'conflict',
            `${label} release ${image.version} for board ${board} is published already with other bytes; a release never changes — build a new version (dominion build --release-version)`,
          );
        }
        results.push({ label, version: image.version, bytes: bundle.length, digest: image.digest, status: 'unchanged' });
        continue;
      }
      insert.run(board, label, image.version, image.issuedAt, manifest, signature, bundle, image.digest, bundle.length, nowMs);
      results.push({ label, version: image.version, bytes: bundle.length, digest: image.digest, status: 'stored' });
    }
    const stored = results.filter((r) => r.status === 'stored');
    if (stored.length > 0)
      auditOperator(db, nowMs, 'publish', null, null, `board ${board}: ${stored.map((r) => `${r.label} ${r.version}`).join(', ')}`);
  }).immediate();
  return {
    board,
    images: results,
    skipped: bundles.filter((label) => !ours.includes(label)),
    keyId: hex(keyIdOf(nodeBackend(), key)),
    pinned: pinned === undefined,
  };
}

/** Every published release, without its bytes: by board, label, version. */
export function listReleases(db: SqliteDatabase): ReleaseSummary[] {
  const rows = db
    .prepare(
      `SELECT board, label, version, issued_at_ms, manifest, bundle_sha512, bundle_bytes, published_at_ms FROM release
       ORDER BY board, label, version`,
    )
    .all() as Array<{
    board: string;
    label: string;
    version: number;
    issued_at_ms: number;
    manifest: Buffer;
    bundle_sha512: Buffer;
    bundle_bytes: number;
    published_at_ms: number;
  }>;
  const backend = nodeBackend();
  return rows.map((r) => ({
    board: r.board,
    label: r.label,
    version: r.version,
    issuedAt: r.issued_at_ms,
    digest: new Uint8Array(r.bundle_sha512),
    bytes: r.bundle_bytes,
    manifestDigest: backend.sha512(r.manifest),
    publishedAt: r.published_at_ms,
  }));
}

/** One release with its bytes, from the database. */
export function readRelease(db: SqliteDatabase, board: string, label: string, version: number): PublishedRelease | undefined {
  const r = db
    .prepare(
      `SELECT issued_at_ms, manifest, manifest_sig, bundle, bundle_sha512, published_at_ms FROM release
       WHERE board = ? AND label = ? AND version = ?`,
    )
    .get(board, label, version) as
    | { issued_at_ms: number; manifest: Buffer; manifest_sig: Buffer; bundle: Buffer; bundle_sha512: Buffer; published_at_ms: number }
    | undefined;
  if (r === undefined) return undefined;
  return Object.freeze({
    board,
    label,
    version,
    issuedAt: r.issued_at_ms,
    manifest: new Uint8Array(r.manifest),
    signature: new Uint8Array(r.manifest_sig),
    bundle: new Uint8Array(r.bundle),
    digest: new Uint8Array(r.bundle_sha512),
    publishedAt: r.published_at_ms,
  });
}

/**
 * The running hub's view of published releases: read once, then served from memory. Bounded to
 * `capacity` releases (the least recently used go first); a miss is never cached, so a release
 * published by `dominion publish` while the hub runs is served at the next request.
 */
export class SqliteReleases implements ReleaseCatalog {
  private readonly cache = new Map<string, PublishedRelease>();
  /** Sizes are bounded by the board budgets (~0.2 MiB a bundle): 64 releases ≈ a dozen MiB at most. */
  constructor(
    private readonly db: SqliteDatabase,
    private readonly capacity = 64,
  ) {}

  release(board: string, label: string, version: number): PublishedRelease | undefined {
    if (!Number.isSafeInteger(version) || version < 1) return undefined;
    const key = releaseKey(board, label, version);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key); // most recently used last
      this.cache.set(key, hit);
      return hit;
    }
    const release = readRelease(this.db, board, label, version);
    if (release === undefined) return undefined;
    this.cache.set(key, release);
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= this.capacity) break;
      this.cache.delete(oldest);
    }
    return release;
  }
}

function read(dir: string, file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(join(dir, file)));
  } catch (err) {
    throw new ArtifactError('missing', file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
