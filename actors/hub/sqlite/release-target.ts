/** `dominion require-update --release <v>` on SQLite: the rows release-target.ts builds the target from. */
import type { Instance } from '../../../proto/index.ts';
import type { UpdateTarget } from '../policy.ts';
import { releaseLabels, updateTargetOf } from '../release-target.ts';
import { readHubIdentity } from './admin.ts';
import type { SqliteDatabase } from './database.ts';
import { readRelease } from './releases.ts';

/** The update target for `instance` from release `version` (of `board`, needed when several boards have it). */
export function releaseTarget(db: SqliteDatabase, instance: Instance, version: number, board?: string): UpdateTarget {
  const labels = releaseLabels(instance);
  const boards = db
    .prepare(`SELECT DISTINCT board FROM release WHERE version = ? AND label IN (${labels.map(() => '?').join(', ')}) ORDER BY board`)
    .pluck()
    .all(version, ...labels) as string[];
  const rows = { hub: readHubIdentity(db), boards, release: (b: string, label: string) => readRelease(db, b, label, version) };
  return updateTargetOf(db.name, rows, instance, version, board);
}
