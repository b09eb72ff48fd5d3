/** `dominion require-update --release <v>` on PostgreSQL: the rows release-target.ts builds the target from. */
import type { Instance } from '../../../proto/index.ts';
import type { UpdateTarget } from '../policy.ts';
import { releaseLabels, updateTargetOf } from '../release-target.ts';
import { releaseKey } from '../releases.ts';
import { readPgHubIdentity } from './admin.ts';
import type { PgQueryable } from './connect.ts';
import { RELEASE_COLUMNS, releaseOfRow, type ReleaseRowPg } from './registry-snapshot.ts';

/** The update target for `instance` from release `version` (of `board`, needed when several boards have it). */
export async function pgReleaseTarget(
  db: PgQueryable,
  where: string,
  instance: Instance,
  version: number,
  board?: string,
): Promise<UpdateTarget> {
  const labels = releaseLabels(instance);
  const r = await db.query<ReleaseRowPg>(`SELECT ${RELEASE_COLUMNS} FROM release WHERE version = $1 AND label = ANY($2::text[])`, [
    version,
    [...labels],
  ]);
  const byKey = new Map(r.rows.map((row) => [releaseKey(row.board, row.label, version), releaseOfRow(row)]));
  const boards = [...new Set(r.rows.map((row) => row.board))].sort();
  const rows = {
    hub: await readPgHubIdentity(db),
    boards,
    release: (b: string, label: string) => byKey.get(releaseKey(b, label, version)),
  };
  return updateTargetOf(where, rows, instance, version, board);
}
