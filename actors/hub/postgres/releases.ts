/**
 * Published releases on PostgreSQL (the counterpart of sqlite/releases.ts): `dominion publish --db
 * postgres://…` stores the images of the hub's role in one transaction with its audit rows and a
 * NOTIFY, so every worker re-reads its releases and serves the new one (registry-snapshot.ts);
 * `dominion releases` lists them. The release key is pinned in `meta` as on SQLite.
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
import type { ReleaseSummary } from '../releases.ts';
import { auditOperator, readPgHubIdentity } from './admin.ts';
import { inTransaction, type PgPool, type PgQueryable } from './connect.ts';

export async function pgPinnedReleaseKey(db: PgQueryable, lock = false): Promise<Uint8Array | undefined> {
  const r = await db.query<{ value: string }>(`SELECT value FROM meta WHERE key = $1${lock ? ' FOR UPDATE' : ''}`, [PIN_KEY]);
  const text = r.rows[0]?.value;
  return text === undefined ? undefined : fromHex(text);
}

/** As sqlite/releases.ts's publishArtifacts, on PostgreSQL; `where` names the database in errors. */
export async function pgPublishArtifacts(pool: PgPool, where: string, dir: string, options: PublishOptions = {}): Promise<PublishResult> {
  const plan = planRelease(where, (await readPgHubIdentity(pool))?.role, await pgPinnedReleaseKey(pool), dir, options);
  const nowMs = options.nowMs ?? Date.now();
  const results = await inTransaction(pool, async (c) => {
    // Two publishes at once: the second waits here for the first's pin, then checks it.
    await c.query('LOCK TABLE release IN SHARE ROW EXCLUSIVE MODE');
    checkPinNow(await pgPinnedReleaseKey(c, true), plan.key);
    if (plan.pinsKey) await c.query('INSERT INTO meta (key, value) VALUES ($1, $2)', [PIN_KEY, hex(plan.key)]);
    const out: PublishedImage[] = [];
    for (const planned of plan.images) {
      const row = (
        await c.query<{ manifest: Buffer; signature: Buffer; bundle: Buffer }>(
          'SELECT manifest, manifest_sig AS signature, bundle FROM release WHERE board = $1 AND label = $2 AND version = $3',
          [plan.board, planned.label, planned.image.version],
        )
      ).rows[0];
      const result = imageStatus(plan, planned, row);
      if (result.status === 'stored')
        await c.query(
          `INSERT INTO release (board, label, version, issued_at_ms, manifest, manifest_sig, bundle, bundle_sha512, bundle_bytes, published_at_ms)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
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
          ],
        );
      out.push(result);
    }
    const audit = publishAudit(plan, out);
    if (audit.pinned !== undefined) await auditOperator(c, nowMs, 'pin-release-key', null, null, audit.pinned, { releases: true });
    if (audit.published !== undefined) await auditOperator(c, nowMs, 'publish', null, null, audit.published, { releases: true });
    return out;
  });
  return publishResult(plan, results);
}

/** Every published release, without its bytes: by board, label, version. */
export async function pgListReleases(db: PgQueryable): Promise<ReleaseSummary[]> {
  const r = await db.query<Parameters<typeof releaseSummary>[0]>(
    `SELECT board, label, version, issued_at_ms, manifest, bundle_sha512, bundle_bytes, published_at_ms FROM release
     ORDER BY board COLLATE "C", label COLLATE "C", version`,
  );
  return r.rows.map(releaseSummary);
}
