/**
 * Staged rollouts' failure counting on PostgreSQL (as sqlite/rollouts.ts's RolloutCounter; which
 * reports count is rollout-plan.ts's): inside the transaction that stores a batch's reports
 * (pg-journal.ts), a cohort device's first ROLLED_BACK or FAILED report of the release adds a
 * `rollout_failure` row and one to `rollout.failures`; reaching `max_rollbacks` halts the rollout in
 * the same transaction, audited (outcome `rollout`), with a NOTIFY so every worker stops demanding
 * the release within a round trip.
 *
 * A batch without such a report costs no statement (a set lookup per report of an instance with a
 * rollout). One with some costs one statement per step — insert the failures, count them, halt,
 * audit — whatever their number. The `rollout` row's lock serialises two workers counting at once,
 * and the count each reads back is the one after its own.
 */
import type { HubEffects } from '../effects.ts';
import {
  automaticHaltReason,
  failureDetail,
  haltDetail,
  RolloutFailureWatch,
  type CountedRollout,
  type RolloutFailureReport,
} from '../rollout-plan.ts';
import type { StoredRolloutState } from '../rollout.ts';
import { notifyChange } from './config-channel.ts';
import type { PgQueryable } from './connect.ts';

const INSERT_FAILURES = `INSERT INTO rollout_failure (rollout_id, device_id, update_state, at_ms)
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) ORDER BY 1, 2
  ON CONFLICT DO NOTHING RETURNING rollout_id, device_id`;
const COUNT_FAILURES = `UPDATE rollout AS r SET failures = r.failures + u.n, updated_at_ms = u.at
  FROM (SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bigint[]) ORDER BY 1) AS u(id, n, at) WHERE r.id = u.id
  RETURNING r.id, r.failures, r.max_rollbacks, r.state, r.percent`;
const HALT = `UPDATE rollout AS r SET state = 'halted', halt_reason = u.why, halted_at_ms = u.at, updated_at_ms = u.at
  FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, why, at) WHERE r.id = u.id AND r.state = 'active' RETURNING r.id`;
const INSERT_AUDIT = `INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance)
  SELECT a, $2, 'rollout', r, d, dev, i FROM unnest($1::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(a, r, d, dev, i)`;

interface Counted {
  id: number;
  failures: number;
  max_rollbacks: number;
  state: StoredRolloutState;
  percent: number;
}

interface AuditRow {
  readonly atMs: number;
  readonly reason: 'rollout-failure' | 'rollout-halt';
  readonly detail: string;
  readonly deviceId: string;
  readonly instance: string;
}

export class PgRolloutCounter {
  private readonly watch = new RolloutFailureWatch();

  constructor(
    /** The instance's current rollout, as the worker's registry snapshot holds it. */
    private readonly rollouts: (instance: string) => CountedRollout | undefined,
    private readonly hubId: string | null,
  ) {}

  /** Whether a report of `instance` may need counting: it has a rollout now (then the batch takes the transaction). */
  mayCount(instance: string): boolean {
    return this.rollouts(instance) !== undefined;
  }

  /** Counts the batch's failure reports inside its transaction; returns the rows written. */
  async count(c: PgQueryable, effects: readonly HubEffects[]): Promise<number> {
    const reports = new Map<string, RolloutFailureReport>();
    for (const { activity } of effects) {
      if (activity === undefined) continue;
      const f = this.watch.check(this.rollouts(activity.instance), activity);
      const key = f === undefined ? '' : `${f.rolloutId}\u0000${f.deviceId}`;
      if (f !== undefined && !reports.has(key)) reports.set(key, f);
    }
    if (reports.size === 0) return 0;
    const all = [...reports.values()];
    const inserted = await c.query<{ rollout_id: number; device_id: string }>(INSERT_FAILURES, [
      all.map((f) => f.rolloutId),
      all.map((f) => f.deviceId),
      all.map((f) => f.failure),
      all.map((f) => f.atMs),
    ]);
    const fresh = new Set(inserted.rows.map((r) => `${r.rollout_id}\u0000${r.device_id}`));
    const counted = all.filter((f) => fresh.has(`${f.rolloutId}\u0000${f.deviceId}`));
    if (counted.length === 0) return 0;
    const byRollout = new Map<number, RolloutFailureReport[]>();
    for (const f of counted) byRollout.set(f.rolloutId, [...(byRollout.get(f.rolloutId) ?? []), f]);
    const ids = [...byRollout.keys()].sort((a, b) => a - b);
    const updated = await c.query<Counted>(COUNT_FAILURES, [
      ids,
      ids.map((id) => byRollout.get(id)!.length),
      ids.map((id) => Math.max(...byRollout.get(id)!.map((f) => f.atMs))),
    ]);
    const audits: AuditRow[] = [];
    const halts: Array<{ id: number; reason: string; atMs: number }> = [];
    for (const row of updated.rows) {
      const reports = byRollout.get(row.id)!;
      const before = row.failures - reports.length;
      reports.forEach((f, k) => {
        const failures = before + k + 1;
        audits.push({ atMs: f.atMs, reason: 'rollout-failure', detail: failureDetail(f, failures, row.max_rollbacks), ...named(f) });
        // The report that reaches the limit halts it (counting goes on after, as on SQLite).
        const reaches = failures === row.max_rollbacks || (k === 0 && before >= row.max_rollbacks);
        if (row.state !== 'active' || !reaches) return;
        const reason = automaticHaltReason(f, failures, row.max_rollbacks);
        halts.push({ id: row.id, reason, atMs: f.atMs });
        audits.push({ atMs: f.atMs, reason: 'rollout-halt', detail: haltDetail(f.release, row.percent, reason), ...named(f) });
      });
    }
    let rows = (inserted.rowCount ?? 0) + (updated.rowCount ?? 0);
    if (halts.length > 0) {
      const halted = await c.query(HALT, [halts.map((h) => h.id), halts.map((h) => h.reason), halts.map((h) => h.atMs)]);
      rows += halted.rowCount ?? 0;
      await notifyChange(c, { rollouts: true }); // every worker stops demanding the release
    }
    const a = await c.query(INSERT_AUDIT, [
      audits.map((x) => x.atMs),
      this.hubId,
      audits.map((x) => x.reason),
      audits.map((x) => x.detail),
      audits.map((x) => x.deviceId),
      audits.map((x) => x.instance),
    ]);
    return rows + (a.rowCount ?? 0);
  }

  /** The transaction ended: committed (its reports are remembered) or rolled back. */
  settled(committed: boolean): void {
    this.watch.settled(committed);
  }
}

function named(f: RolloutFailureReport): { deviceId: string; instance: string } {
  return { deviceId: f.deviceId, instance: f.instance };
}
