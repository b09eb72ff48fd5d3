/**
 * Staged rollouts in the hub database (`dominion rollout`, docs: the help text of cli/rollout.ts).
 *
 * A rollout is one row: release R of one instance, demanded of the cohort of P % of the devices
 * (rollout.ts: a fixed point per device, so the cohort is deterministic and only grows with P). No
 * hold is written per device; the ticket path reads the instance's current rollout from the config
 * cache and hashes the device id (SqlitePolicy.evaluate): O(1) per request, whatever the fleet size.
 *
 * Halting: the `RolloutCounter` sees every report a hub stores, inside the transaction that stores it
 * (journal.ts). When a cohort device's instance reports ROLLED_BACK or FAILED for the release, its
 * first such report adds one `rollout_failure` row and one to `rollout.failures`; when that reaches
 * `max_rollbacks` the rollout halts in the same transaction, audited (outcome `rollout`), and the
 * config version moves so every hub process on the database stops demanding the release at the next
 * request. A request costs one map lookup when its instance has no rollout, a scan of its (at most
 * two) slot reports when it has one, and writes only on the first failure report of a device.
 *
 * A halted rollout demands nothing: devices get their tickets (an UPDATE_REQUIRED withholds the
 * ticket, so a device still asked for a halted release would be reset for nothing); what already
 * runs or is on trial is left alone. Counting goes on while halted, so `--status` and `--resume`
 * see every rollback.
 *
 * What each command decides and refuses is shared with PostgreSQL (rollout-plan.ts); this file is
 * its SQLite I/O. Operator changes (start, widen, halt, resume) run in IMMEDIATE transactions with
 * their audit row.
 */
import type { ActivityEffect } from '../effects.ts';
import { updateTargetJson } from '../policy-doc.ts';
import {
  automaticHaltReason,
  checkResume,
  checkStart,
  cohortOf,
  DEFAULT_MAX_ROLLBACKS,
  failureDetail,
  haltDetail,
  operatorHaltReason,
  pickCurrent,
  planResume,
  planStart,
  planWiden,
  rolloutOf,
  RolloutFailureWatch,
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
import type { StoredRolloutState } from '../rollout.ts';
import { auditOperator, bumpConfig } from './admin.ts';
import type { ConfigCache } from './config-cache.ts';
import type { SqliteDatabase } from './database.ts';
import type { ActivityObserver } from './journal.ts';
import { releaseTarget } from './release-target.ts';

export {
  MAX_ROLLBACKS_LIMIT,
  type CohortSize,
  type HaltRollouts,
  type ResumeRollout,
  type Rollout,
  type RolloutChange,
  type RolloutQuery,
  type RolloutStatus,
  type StartRollout,
} from '../rollout-plan.ts';

/**
 * Starts a rollout of `release` for `instance`, or widens the instance's current rollout of that
 * release. A rollout of a newer release supersedes the current one (which then demands nothing).
 */
export function startRollout(db: SqliteDatabase, o: StartRollout): RolloutChange {
  checkStart(o);
  const nowMs = o.nowMs ?? Date.now();
  let result: Omit<RolloutChange, 'size'> | undefined;
  db.transaction(() => {
    const current = currentRow(db, o.instance);
    const earlier = db.prepare('SELECT 1 FROM rollout WHERE instance = ? AND release = ?').get(o.instance, o.release) !== undefined;
    const plan = planStart(current, earlier, o);
    if (plan.kind === 'widen') {
      const w = planWiden(plan.current, o);
      if (w.change === 'unchanged') return void (result = { change: 'unchanged', rollout: rolloutOf(plan.current) });
      db.prepare('UPDATE rollout SET percent = ?, max_rollbacks = ?, updated_at_ms = ? WHERE id = ?').run(
        w.percent,
        w.maxRollbacks,
        nowMs,
        plan.current.id,
      );
      auditOperator(db, nowMs, 'rollout', null, plan.current.instance, w.detail);
      result = { change: 'widened', rollout: rolloutOf(currentRow(db, o.instance)!), fromPercent: plan.current.percent };
      return;
    }
    const target = releaseTarget(db, o.instance, o.release, o.board);
    if (plan.supersede !== undefined)
      db.prepare("UPDATE rollout SET state = 'superseded', updated_at_ms = ? WHERE id = ?").run(nowMs, plan.supersede.id);
    const maxRollbacks = o.maxRollbacks ?? DEFAULT_MAX_ROLLBACKS;
    db.prepare(
      `INSERT INTO rollout (instance, release, board, target, percent, max_rollbacks, state, started_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
    ).run(o.instance, o.release, o.board ?? null, JSON.stringify(updateTargetJson(target)), o.percent, maxRollbacks, nowMs, nowMs);
    auditOperator(db, nowMs, 'rollout', null, o.instance, startDetail(o, maxRollbacks, plan.supersede));
    result = {
      change: 'started',
      rollout: rolloutOf(currentRow(db, o.instance)!),
      ...(plan.supersede !== undefined ? { superseded: plan.supersede.release } : {}),
    };
  }).immediate();
  return { ...result!, size: cohortOf(result!.rollout, enrolled(db, o.instance)).size };
}

/** Halts active rollouts by hand. Refused when there is no active or halted rollout to name. */
export function haltRollouts(db: SqliteDatabase, o: HaltRollouts = {}): { halted: Rollout[]; alreadyHalted: Rollout[] } {
  const nowMs = o.nowMs ?? Date.now();
  const reason = operatorHaltReason(o.reason);
  const halted: Rollout[] = [];
  const alreadyHalted: Rollout[] = [];
  db.transaction(() => {
    for (const row of pickCurrent(currentRows(db), o.instance, o.release)) {
      if (row.state === 'halted') {
        alreadyHalted.push(rolloutOf(row));
        continue;
      }
      db.prepare("UPDATE rollout SET state = 'halted', halt_reason = ?, halted_at_ms = ?, updated_at_ms = ? WHERE id = ?").run(
        reason,
        nowMs,
        nowMs,
        row.id,
      );
      auditOperator(db, nowMs, 'rollout-halt', null, row.instance, haltDetail(row.release, row.percent, reason));
      halted.push(rolloutOf(currentRow(db, row.instance)!));
    }
  }).immediate();
  return { halted, alreadyHalted };
}

/** Resumes a halted rollout: its cohort is asked for the release again from its next request. */
export function resumeRollout(db: SqliteDatabase, o: ResumeRollout): Rollout {
  checkResume(o);
  const nowMs = o.nowMs ?? Date.now();
  let resumed: Rollout | undefined;
  db.transaction(() => {
    const row = pickCurrent(currentRows(db), o.instance, o.release)[0]!;
    const plan = planResume(row, o);
    db.prepare(
      "UPDATE rollout SET state = 'active', max_rollbacks = ?, halt_reason = NULL, halted_at_ms = NULL, updated_at_ms = ? WHERE id = ?",
    ).run(plan.maxRollbacks, nowMs, row.id);
    auditOperator(db, nowMs, 'rollout-resume', null, row.instance, plan.detail);
    resumed = rolloutOf(currentRow(db, row.instance)!);
  }).immediate();
  return resumed!;
}

/**
 * Every current rollout (active or halted; with `all`, superseded ones too), by instance, with its
 * cohort and the cohort's progress read from the stored slot reports. Read-only; scans the devices
 * enrolled for each rollout's instance (an operator command, not the ticket path).
 */
export function rolloutStatus(db: SqliteDatabase, q: RolloutQuery = {}): RolloutStatus[] {
  const rows = db
    .prepare(
      `SELECT * FROM rollout
       WHERE (@instance IS NULL OR instance = @instance) AND (@release IS NULL OR release = @release)
         AND (@all = 1 OR state IN ('active', 'halted'))
       ORDER BY instance, release DESC`,
    )
    .all({ instance: q.instance ?? null, release: q.release ?? null, all: q.all === true ? 1 : 0 }) as RolloutRow[];
  return rows.map((row) => statusOf(row, enrolled(db, row.instance)));
}

/** Counts rollbacks and failures of cohort devices as their reports are stored, and halts at the limit. */
export class RolloutCounter implements ActivityObserver {
  private readonly watch = new RolloutFailureWatch();
  private readonly insertFailure;
  private readonly countFailure;
  private readonly halt;
  private readonly audit;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly cache: ConfigCache,
    private readonly hubId: string | undefined,
  ) {
    this.insertFailure = db.prepare(
      'INSERT OR IGNORE INTO rollout_failure (rollout_id, device_id, update_state, at_ms) VALUES (?, ?, ?, ?)',
    );
    this.countFailure = db.prepare(
      'UPDATE rollout SET failures = failures + 1, updated_at_ms = ? WHERE id = ? RETURNING failures, max_rollbacks, state, percent',
    );
    this.halt = db.prepare(
      "UPDATE rollout SET state = 'halted', halt_reason = ?, halted_at_ms = ?, updated_at_ms = ? WHERE id = ? AND state = 'active'",
    );
    this.audit = db.prepare(
      "INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance) VALUES (?, ?, 'rollout', ?, ?, ?, ?)",
    );
  }

  observe(a: ActivityEffect): void {
    const f = this.watch.check(this.cache.rollout(a.instance), a);
    if (f === undefined) return;
    if (this.insertFailure.run(f.rolloutId, f.deviceId, f.failure, f.atMs).changes === 0) return;
    const counted = this.countFailure.get(f.atMs, f.rolloutId) as
      { failures: number; max_rollbacks: number; state: StoredRolloutState; percent: number } | undefined;
    if (counted === undefined) return;
    const { failures, max_rollbacks: max } = counted;
    this.audit.run(f.atMs, this.hubId ?? null, 'rollout-failure', failureDetail(f, failures, max), f.deviceId, f.instance);
    if (counted.state !== 'active' || failures < max) return;
    const reason = automaticHaltReason(f, failures, max);
    if (this.halt.run(reason, f.atMs, f.atMs, f.rolloutId).changes === 0) return;
    this.audit.run(f.atMs, this.hubId ?? null, 'rollout-halt', haltDetail(f.release, counted.percent, reason), f.deviceId, f.instance);
    bumpConfig(this.db); // every hub process on this database stops demanding the release
  }

  settled(committed: boolean): void {
    this.watch.settled(committed);
  }
}

/** The active devices enrolled for `instance`, with their slot reports. */
function enrolled(db: SqliteDatabase, instance: string): EnrolledSlots[] {
  return db
    .prepare(
      `SELECT k.device_id, a.slots FROM device d
       JOIN device_key k ON k.device_id = d.device_id AND k.instance = ?
       LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
       WHERE d.state = 'active'`,
    )
    .all(instance) as EnrolledSlots[];
}

function currentRow(db: SqliteDatabase, instance: string): RolloutRow | undefined {
  return db.prepare("SELECT * FROM rollout WHERE instance = ? AND state IN ('active', 'halted')").get(instance) as RolloutRow | undefined;
}

function currentRows(db: SqliteDatabase): RolloutRow[] {
  return db.prepare("SELECT * FROM rollout WHERE state IN ('active', 'halted') ORDER BY instance").all() as RolloutRow[];
}
