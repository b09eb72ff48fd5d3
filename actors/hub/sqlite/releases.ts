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
import { fromHex, hex } from '../../crypto/index.ts';
import {
  checkPinNow,
  imageStatus,
  PIN_KEY,
  planRelease,
  publishAudit,
  publishResult,
  releaseSummary,
  type PublishedImage,
  type PublishOptions,
  type PublishResult,
} from '../release-plan.ts';
import { releaseKey, type PublishedRelease, type ReleaseCatalog, type ReleaseSummary } from '../releases.ts';
import { auditOperator, readHubIdentity } from './admin.ts';
import type { SqliteDatabase } from './database.ts';

export { ReleaseError, type PublishOptions, type PublishResult, type PublishedImage, type ReleaseErrorCode } from '../release-plan.ts';

/** The pinned release public key, if any. */
export function pinnedReleaseKey(db: SqliteDatabase): Uint8Array | undefined {
  const text = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(PIN_KEY) as string | undefined;
  return text === undefined ? undefined : fromHex(text);
}

/**
 * Verifies `dir` (release-plan.ts: signature by the release key, every file's size and digest) and
 * stores the images of this hub's role, in one transaction with its audit rows. Throws ReleaseError,
 * ArtifactError (the artifacts do not verify) or HubStoreError (no hub identity, database trouble).
 */
export function publishArtifacts(db: SqliteDatabase, dir: string, options: PublishOptions = {}): PublishResult {
  const plan = planRelease(db.name, readHubIdentity(db)?.role, pinnedReleaseKey(db), dir, options);
  const nowMs = options.nowMs ?? Date.now();
  const existing = db.prepare(
    'SELECT manifest, manifest_sig AS signature, bundle FROM release WHERE board = ? AND label = ? AND version = ?',
  );
  const insert = db.prepare(
    `INSERT INTO release (board, label, version, issued_at_ms, manifest, manifest_sig, bundle, bundle_sha512, bundle_bytes, published_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const results: PublishedImage[] = [];
  db.transaction(() => {
    checkPinNow(pinnedReleaseKey(db), plan.key);
    if (plan.pinsKey) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(PIN_KEY, hex(plan.key));
    for (const planned of plan.images) {
      const row = existing.get(plan.board, planned.label, planned.image.version) as ReleaseBytes | undefined;
      const result = imageStatus(plan, planned, row);
      if (result.status === 'stored')
        insert.run(
          plan.board,
          planned.label,
          result.version,
          planned.image.issuedAt,
          plan.manifest,
          plan.signature,
          planned.bundle,
          result.digest,
          result.bytes,
          nowMs,
        );
      results.push(result);
    }
    const audit = publishAudit(plan, results);
    if (audit.pinned !== undefined) auditOperator(db, nowMs, 'pin-release-key', null, null, audit.pinned);
    if (audit.published !== undefined) auditOperator(db, nowMs, 'publish', null, null, audit.published);
  }).immediate();
  return publishResult(plan, results);
}

/** Every published release, without its bytes: by board, label, version. */
export function listReleases(db: SqliteDatabase): ReleaseSummary[] {
  const rows = db
    .prepare(
      `SELECT board, label, version, issued_at_ms, manifest, bundle_sha512, bundle_bytes, published_at_ms FROM release
       ORDER BY board, label, version`,
    )
    .all() as Array<Parameters<typeof releaseSummary>[0]>;
  return rows.map(releaseSummary);
}

interface ReleaseBytes {
  manifest: Uint8Array;
  signature: Uint8Array;
  bundle: Uint8Array;
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
