/**
 * `dominion rollout` on PostgreSQL: the operator's start, widen, halt, resume and status of staged
 * rollouts (what each decides and refuses is rollout-plan.ts, shared with sqlite/rollouts.ts). Each
 * change runs in one transaction with its audit row and a NOTIFY `rollouts`, so every worker re-reads
 * the current rollouts (registry-snapshot.ts) and applies the change at the next request. Two
 * operators' changes take turns on a transaction-scoped advisory lock; the rows they change are
 * locked too, against a worker counting a failure (rollout-counter.ts) at the same moment.
 */
import { updateTargetJson } from '../policy-doc.ts';
import {
  checkResume,
  checkStart,
  cohortOf,
  DEFAULT_MAX_ROLLBACKS,
  haltDetail,
  operatorHaltReason,
  pickCurrent,
  planResume,
  planStart,
  planWiden,
  rolloutOf,
  startDetail,
  statusOf,
  type EnrolledSlots,
  type HaltRollouts,
  type ResumeRollout,
  type Rollout,
  type RolloutChange,
  type RolloutQuery,
  type RolloutRow,
  type RolloutStatus,
  type StartRollout,
} from '../rollout-plan.ts';
import { auditOperator } from './admin.ts';
import { inTransaction, type PgPool, type PgQueryable } from './connect.ts';
import { pgReleaseTarget } from './release-target.ts';

/** Starts a rollout of `release` for `instance`, or widens the current one of that release (sqlite/rollouts.ts startRollout). */
export async function pgStartRollout(pool: PgPool, where: string, o: StartRollout): Promise<RolloutChange> {
  checkStart(o);
  const nowMs = o.nowMs ?? Date.now();
  return inTransaction(pool, async (c) => {
    const current = (await currentRows(c)).find((r) => r.instance === o.instance);
    const earlier = (await c.query('SELECT 1 FROM rollout WHERE instance = $1 AND release = $2', [o.instance, o.release])).rows.length > 0;
    const plan = planStart(current, earlier, o);
    let change: Omit<RolloutChange, 'size'>;
    if (plan.kind === 'widen') {
      const w = planWiden(plan.current, o);
      if (w.change === 'unchanged') change = { change: 'unchanged', rollout: rolloutOf(plan.current) };
      else {
        await c.query('UPDATE rollout SET percent = $1, max_rollbacks = $2, updated_at_ms = $3 WHERE id = $4', [
          w.percent,
          w.maxRollbacks,
          nowMs,
          plan.current.id,
        ]);
        await auditOperator(c, nowMs, 'rollout', null, o.instance, w.detail, { rollouts: true });
        change = { change: 'widened', rollout: rolloutOf(await currentRow(c, o.instance)), fromPercent: plan.current.percent };
      }
    } else {
      const target = await pgReleaseTarget(c, where, o.instance, o.release, o.board);
      if (plan.supersede !== undefined)
        await c.query("UPDATE rollout SET state = 'superseded', updated_at_ms = $1 WHERE id = $2", [nowMs, plan.supersede.id]);
      const maxRollbacks = o.maxRollbacks ?? DEFAULT_MAX_ROLLBACKS;
      await c.query(
        `INSERT INTO rollout (instance, release, board, target, percent, max_rollbacks, state, started_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)`,
        [o.instance, o.release, o.board ?? null, JSON.stringify(updateTargetJson(target)), o.percent, maxRollbacks, nowMs],
      );
      await auditOperator(c, nowMs, 'rollout', null, o.instance, startDetail(o, maxRollbacks, plan.supersede), { rollouts: true });
      change = {
        change: 'started',
        rollout: rolloutOf(await currentRow(c, o.instance)),
        ...(plan.supersede !== undefined ? { superseded: plan.supersede.release } : {}),
      };
    }
    return { ...change, size: cohortOf(change.rollout, await enrolled(c, o.instance)).size };
  });
}

/** Halts active rollouts by hand (one instance's, or every one); refused when none is named. */
export async function pgHaltRollouts(pool: PgPool, o: HaltRollouts = {}): Promise<{ halted: Rollout[]; alreadyHalted: Rollout[] }> {
  const nowMs = o.nowMs ?? Date.now();
  const reason = operatorHaltReason(o.reason);
  return inTransaction(pool, async (c) => {
    const halted: Rollout[] = [];
    const alreadyHalted: Rollout[] = [];
    for (const row of pickCurrent(await currentRows(c), o.instance, o.release)) {
      if (row.state === 'halted') {
        alreadyHalted.push(rolloutOf(row));
        continue;
      }
      await c.query("UPDATE rollout SET state = 'halted', halt_reason = $1, halted_at_ms = $2, updated_at_ms = $2 WHERE id = $3", [
        reason,
        nowMs,
        row.id,
      ]);
      await auditOperator(c, nowMs, 'rollout-halt', null, row.instance, haltDetail(row.release, row.percent, reason), { rollouts: true });
      halted.push(rolloutOf(await currentRow(c, row.instance)));
    }
    return { halted, alreadyHalted };
  });
}

/** Resumes a halted rollout: its cohort is asked for the release again from its next request. */
export async function pgResumeRollout(pool: PgPool, o: ResumeRollout): Promise<Rollout> {
  checkResume(o);
  const nowMs = o.nowMs ?? Date.now();
  return inTransaction(pool, async (c) => {
    const row = pickCurrent(await currentRows(c), o.instance, o.release)[0]!;
    const plan = planResume(row, o);
    await c.query(
      "UPDATE rollout SET state = 'active', max_rollbacks = $1, halt_reason = NULL, halted_at_ms = NULL, updated_at_ms = $2 WHERE id = $3",
      [plan.maxRollbacks, nowMs, row.id],
    );
    await auditOperator(c, nowMs, 'rollout-resume', null, row.instance, plan.detail, { rollouts: true });
    return rolloutOf(await currentRow(c, row.instance));
  });
}

/** Every current rollout (with `all`, superseded ones too), with its cohort and their progress. Read-only. */
export async function pgRolloutStatus(db: PgQueryable, q: RolloutQuery = {}): Promise<RolloutStatus[]> {
  const rows = await db.query<RolloutRow>(
    `SELECT * FROM rollout
     WHERE ($1::text IS NULL OR instance = $1) AND ($2::bigint IS NULL OR release = $2)
       AND ($3::boolean OR state IN ('active', 'halted'))
     ORDER BY instance COLLATE "C", release DESC`,
    [q.instance ?? null, q.release ?? null, q.all === true],
  );
  const out: RolloutStatus[] = [];
  for (const row of rows.rows) out.push(statusOf(row, await enrolled(db, row.instance)));
  return out;
}

/** The current rollouts, locked for this transaction, after taking the rollout commands' turn. */
async function currentRows(c: PgQueryable): Promise<RolloutRow[]> {
  await c.query("SELECT pg_advisory_xact_lock(hashtext('dominion-rollout:' || current_schema()))");
  return (await c.query<RolloutRow>("SELECT * FROM rollout WHERE state IN ('active', 'halted') ORDER BY id FOR UPDATE")).rows;
}

async function currentRow(c: PgQueryable, instance: string): Promise<RolloutRow> {
  return (await c.query<RolloutRow>("SELECT * FROM rollout WHERE instance = $1 AND state IN ('active', 'halted')", [instance])).rows[0]!;
}

async function enrolled(db: PgQueryable, instance: string): Promise<EnrolledSlots[]> {
  return (
    await db.query<EnrolledSlots>(
      `SELECT k.device_id, a.slots FROM device d
       JOIN device_key k ON k.device_id = d.device_id AND k.instance = $1
       LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
       WHERE d.state = 'active'`,
      [instance],
    )
  ).rows;
}
