/**
 * The UPDATE_REQUIRED an operator demands with `dominion require-update --release <v>`, built from a
 * release this hub published, so it names exactly what the hub serves:
 *
 * - `version` and `release_version`: the release version (decimal);
 * - `image_digest`: SHA-512 of the release's manifest.json (the device checks the manifest it fetches
 *   against it, and each bundle against the manifest);
 * - `fetch_topic`: this hub's request topic, where the device sends its ImageRequests;
 * - `size_bytes`: the bundle's size; for `device` (its firmware) sw's and the hypervisor's together,
 *   which must then come from one build (the same manifest).
 */
import { nodeBackend } from '../../crypto/index.ts';
import { topics, type Instance } from '../../../proto/index.ts';
import { checkUpdateTarget, type UpdateTarget } from '../policy.ts';
import { labelsOfInstance } from '../releases.ts';
import { dominates } from '../role.ts';
import { readHubIdentity } from './admin.ts';
import type { SqliteDatabase } from './database.ts';
import { HubStoreError } from './errors.ts';
import { readRelease } from './releases.ts';

/** The update target for `instance` from release `version` (of `board`, needed when several boards have it). */
export function releaseTarget(db: SqliteDatabase, instance: Instance, version: number, board?: string): UpdateTarget {
  const identity = readHubIdentity(db);
  if (identity === undefined)
    throw new HubStoreError('refused', `${db.name}: belongs to no hub yet, so it has no request topic to fetch from`);
  if (!dominates(identity.role, instance))
    throw new HubStoreError('refused', `this database's hub (${identity.hubId}) does not dominate ${instance}`);
  const labels = labelsOfInstance(instance);
  const boards = board !== undefined ? [board] : boardsWith(db, labels, version);
  if (boards.length > 1) {
    throw new HubStoreError(
      'refused',
      `release ${version} of ${labels.join(' and ')} is published for boards ${boards.join(', ')}: pick one with --board`,
    );
  }
  const releases = labels.map((label) => ({
    label,
    release: boards[0] === undefined ? undefined : readRelease(db, boards[0], label, version),
  }));
  const missing = releases.filter((r) => r.release === undefined).map((r) => r.label);
  if (missing.length > 0) {
    throw new HubStoreError(
      'refused',
      `release ${version} of ${missing.join(' and ')}${board !== undefined ? ` for board ${board}` : ''} is not published here (dominion publish; dominion releases lists what is)`,
    );
  }
  const [first, ...rest] = releases.map((r) => r.release!);
  if (rest.some((r) => !Buffer.from(r.manifest).equals(Buffer.from(first!.manifest)))) {
    throw new HubStoreError('refused', `release ${version} of ${labels.join(' and ')} comes from different builds (different manifests)`);
  }
  return checkUpdateTarget(instance, {
    version: String(version),
    imageDigest: nodeBackend().sha512(first!.manifest),
    fetchTopic: topics.hubRequestBase(identity.hubId),
    sizeBytes: [first!, ...rest].reduce((n, r) => n + r.bundle.length, 0),
    releaseVersion: version,
  });
}

function boardsWith(db: SqliteDatabase, labels: readonly string[], version: number): string[] {
  return db
    .prepare(`SELECT DISTINCT board FROM release WHERE version = ? AND label IN (${labels.map(() => '?').join(', ')}) ORDER BY board`)
    .pluck()
    .all(version, ...labels) as string[];
}
