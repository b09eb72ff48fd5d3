/**
 * The UPDATE_REQUIRED an operator demands with `dominion require-update --release <v>`, built from a
 * release this hub published, so it names exactly what the hub serves (either store reads the rows:
 * sqlite/release-target.ts, postgres/release-target.ts):
 *
 * - `version` and `release_version`: the release version (decimal);
 * - `image_digest`: SHA-512 of the release's manifest.json (the device checks the manifest it fetches
 *   against it, and each bundle against the manifest);
 * - `fetch_topic`: this hub's request topic, where the device sends its ImageRequests;
 * - `size_bytes`: the bundle's size; for `device` (its firmware) sw's and the hypervisor's together,
 *   which must then come from one build (the same manifest).
 */
import { nodeBackend } from '../crypto/index.ts';
import { topics, type Instance } from '../../proto/index.ts';
import { checkUpdateTarget, type UpdateTarget } from './policy.ts';
import { labelsOfInstance, type PublishedRelease } from './releases.ts';
import { dominates, type HubRole } from './role.ts';
import { HubStoreError } from './sqlite/errors.ts';

/** What a store reads for one demand: its hub, and the release rows of the instance's labels. */
export interface ReleaseRows {
  readonly hub: { readonly hubId: string; readonly role: HubRole } | undefined;
  /** Boards that published `version` of every label asked (distinct, sorted). */
  readonly boards: readonly string[];
  /** The release of `label` for the one board, if published. */
  readonly release: (board: string, label: string) => PublishedRelease | undefined;
}

/** Which image labels a demand on `instance` reads (`device`: sw and hypervisor). */
export function releaseLabels(instance: Instance): readonly string[] {
  return labelsOfInstance(instance);
}

/** The update target for `instance` from release `version` (of `board`, needed when several boards have it). */
export function updateTargetOf(where: string, rows: ReleaseRows, instance: Instance, version: number, board?: string): UpdateTarget {
  const identity = rows.hub;
  if (identity === undefined)
    throw new HubStoreError('refused', `${where}: belongs to no hub yet, so it has no request topic to fetch from`);
  if (!dominates(identity.role, instance))
    throw new HubStoreError('refused', `this database's hub (${identity.hubId}) does not dominate ${instance}`);
  const labels = labelsOfInstance(instance);
  const boards = board !== undefined ? [board] : rows.boards;
  if (boards.length > 1) {
    throw new HubStoreError(
      'refused',
      `release ${version} of ${labels.join(' and ')} is published for boards ${boards.join(', ')}: pick one with --board`,
    );
  }
  const releases = labels.map((label) => ({ label, release: boards[0] === undefined ? undefined : rows.release(boards[0], label) }));
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
