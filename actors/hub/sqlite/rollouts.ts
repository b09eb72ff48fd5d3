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
 * Operator changes (start, widen, halt, resume) run in IMMEDIATE transactions with their audit row.
 */
import type { Instance } from '../../../proto/index.ts';
import type { ActivityEffect } from '../effects.ts';
import { cleanDetail } from '../policy.ts';
import { updateTargetJson } from '../policy-doc.ts';
import {
  DEFAULT_MAX_ROLLBACKS,
  inCohort,
  ROLLOUT_PROGRESS,
  rolloutFailure,
  rolloutProgress,
  type RolloutProgress,
  type RolloutState,
  type StoredRolloutState,
} from '../rollout.ts';
import type { SlotRecord, UpdateStateName } from '../runtime-record.ts';
import { auditOperator, bumpConfig } from './admin.ts';
import type { ConfigCache } from './config-cache.ts';
import type { SqliteDatabase } from './database.ts';
import { HubStoreError } from './errors.ts';
import type { ActivityObserver } from './journal.ts';
import { releaseTarget } from './release-target.ts';

/** Upper bound of `--max-rollbacks` (a count; large enough to mean "do not halt" in any fleet). */
export const MAX_ROLLBACKS_LIMIT = 1_000_000;

/** A rollout as stored. */
export interface Rollout {
  readonly instance: string;
  readonly release: number;
  /** The board given at start (`--board`); absent: the one board the release was published for. */
  readonly board?: string;
  readonly percent: number;
  readonly maxRollbacks: number;
  readonly state: StoredRolloutState;
  /** Distinct cohort devices counted with a rollback or failure of the release. */
  readonly failures: number;
  readonly haltReason?: string;
  readonly haltedAtMs?: number;
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
}

/** The cohort now: its size among the active devices enrolled for the instance. */
export interface CohortSize {
  readonly cohort: number;
  readonly activeDevices: number;
}

/** What `dominion rollout --status` shows: the rollout, its cohort, and where the cohort stands. */
export type RolloutStatus = Omit<Rollout, 'state'> &
  CohortSize & {
    /** `done`: active at 100 %, and every cohort device runs the release or rolled back from it. */
    readonly state: RolloutState;
    /** Cohort devices by their progress with the release (from their latest slot reports). */
    readonly progress: Readonly<Record<RolloutProgress, number>>;
  };

export interface StartRollout {
  readonly instance: Instance;
  readonly release: number;
  readonly percent: number;
  readonly board?: string;
  /** Default: the stored value when widening, DEFAULT_MAX_ROLLBACKS when starting. */
  readonly maxRollbacks?: number;
  readonly nowMs?: number;
}

export interface RolloutChange {
  /** `unchanged`: the same percent and limit again (nothing written). */
  readonly change: 'started' | 'widened' | 'unchanged';
  readonly rollout: Rollout;
  /** Widened: the percent before. */
  readonly fromPercent?: number;
  /** Started: the release of the rollout this one superseded. */
  readonly superseded?: number;
  readonly size: CohortSize;
}

interface Row {
  id: number;
  instance: string;
  release: number;
  board: string | null;
  target: string;
  percent: number;
  max_rollbacks: number;
  state: StoredRolloutState;
  failures: number;
  halt_reason: string | null;
  halted_at_ms: number | null;
  started_at_ms: number;
  updated_at_ms: number;
}

/**
 * Starts a rollout of `release` for `instance`, or widens the instance's current rollout of that
 * release. A rollout of a newer release supersedes the current one (which then demands nothing).
 */
export function startRollout(db: SqliteDatabase, o: StartRollout): RolloutChange {
  checkInteger('--percent', o.percent, 1, 100);
  checkInteger('--release', o.release, 1, Number.MAX_SAFE_INTEGER);
  if (o.maxRollbacks !== undefined) checkInteger('--max-rollbacks', o.maxRollbacks, 1, MAX_ROLLBACKS_LIMIT);
  const nowMs = o.nowMs ?? Date.now();
  let result: Omit<RolloutChange, 'size'> | undefined;
  db.transaction(() => {
    const current = currentRow(db, o.instance);
    if (current !== undefined && current.release === o.release) {
      result = widen(db, current, o, nowMs);
      return;
    }
    const earlier = db.prepare('SELECT state FROM rollout WHERE instance = ? AND release = ?').pluck().get(o.instance, o.release);
    if (earlier !== undefined)
      throw refused(`release ${o.release} of ${o.instance} was rolled out before and superseded; roll out a newer release`);
    if (current !== undefined && o.release < current.release) {
      throw refused(
        `release ${o.release} is older than the rollout of ${o.instance} in place (release ${current.release}); a device that runs ${current.release} meets it already`,
      );
    }
    const target = releaseTarget(db, o.instance, o.release, o.board);
    if (current !== undefined) {
      db.prepare("UPDATE rollout SET state = 'superseded', updated_at_ms = ? WHERE id = ?").run(nowMs, current.id);
    }
    const maxRollbacks = o.maxRollbacks ?? DEFAULT_MAX_ROLLBACKS;
    db.prepare(
      `INSERT INTO rollout (instance, release, board, target, percent, max_rollbacks, state, started_at_ms, updated_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
    ).run(o.instance, o.release, o.board ?? null, JSON.stringify(updateTargetJson(target)), o.percent, maxRollbacks, nowMs, nowMs);
    const replaced = current === undefined ? '' : `; supersedes the rollout of release ${current.release} (${current.state})`;
    auditOperator(
      db,
      nowMs,
      'rollout',
      null,
      o.instance,
      `release ${o.release} to ${o.percent} % of devices${o.board !== undefined ? ` (board ${o.board})` : ''}, halts at ${maxRollbacks} rollback(s) or failure(s)${replaced}`,
    );
    result = {
      change: 'started',
      rollout: rolloutOf(currentRow(db, o.instance)!),
      ...(current !== undefined ? { superseded: current.release } : {}),
    };
  }).immediate();
  const rollout = result!.rollout;
  return { ...result!, size: scan(db, rollout).size };
}

function widen(db: SqliteDatabase, current: Row, o: StartRollout, nowMs: number): Omit<RolloutChange, 'size'> {
  const what = `the rollout of release ${current.release} for ${current.instance}`;
  if (o.board !== undefined && o.board !== current.board) {
    throw refused(
      `${what} was started ${current.board !== null ? `for board ${current.board}` : 'without --board'}; its board cannot change`,
    );
  }
  if (current.state === 'halted') {
    throw refused(
      `${what} is halted (${current.halt_reason ?? 'no reason recorded'}); resume it first: dominion rollout --resume --instance ${current.instance}`,
    );
  }
  if (o.percent < current.percent) {
    throw refused(
      `${what} is at ${current.percent} %; a rollout only widens (a lower percent would drop devices already in it): halt it instead`,
    );
  }
  const maxRollbacks = o.maxRollbacks ?? current.max_rollbacks;
  if (maxRollbacks <= current.failures) {
    throw refused(`${what} has counted ${current.failures} rollback(s) or failure(s): --max-rollbacks must be above that`);
  }
  if (o.percent === current.percent && maxRollbacks === current.max_rollbacks) return { change: 'unchanged', rollout: rolloutOf(current) };
  db.prepare('UPDATE rollout SET percent = ?, max_rollbacks = ?, updated_at_ms = ? WHERE id = ?').run(
    o.percent,
    maxRollbacks,
    nowMs,
    current.id,
  );
  const limit = maxRollbacks !== current.max_rollbacks ? `, halts at ${maxRollbacks} rollback(s) or failure(s)` : '';
  auditOperator(
    db,
    nowMs,
    'rollout',
    null,
    current.instance,
    `release ${current.release} widened from ${current.percent} % to ${o.percent} %${limit}`,
  );
  return { change: 'widened', rollout: rolloutOf(currentRow(db, current.instance)!), fromPercent: current.percent };
}

export interface HaltRollouts {
  /** Only this instance's rollout; default: every active rollout of the hub (an emergency stop). */
  readonly instance?: Instance;
  /** When given, the instance's current rollout must be of this release. */
  readonly release?: number;
  readonly reason?: string;
  readonly nowMs?: number;
}

/** Halts active rollouts by hand. Refused when there is no active or halted rollout to name. */
export function haltRollouts(db: SqliteDatabase, o: HaltRollouts = {}): { halted: Rollout[]; alreadyHalted: Rollout[] } {
  const nowMs = o.nowMs ?? Date.now();
  const reason = `operator: ${o.reason !== undefined && o.reason.trim() !== '' ? cleanDetail(o.reason) : 'halted by hand'}`;
  const halted: Rollout[] = [];
  const alreadyHalted: Rollout[] = [];
  db.transaction(() => {
    const rows = currentRows(db, o.instance, o.release);
    for (const row of rows) {
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
      auditOperator(db, nowMs, 'rollout-halt', null, row.instance, `release ${row.release} halted at ${row.percent} %: ${reason}`);
      halted.push(rolloutOf(currentRow(db, row.instance)!));
    }
  }).immediate();
  return { halted, alreadyHalted };
}

export interface ResumeRollout {
  readonly instance: Instance;
  readonly release?: number;
  /** A new limit; it must be above the rollbacks and failures already counted. */
  readonly maxRollbacks?: number;
  readonly nowMs?: number;
}

/** Resumes a halted rollout: its cohort is asked for the release again from its next request. */
export function resumeRollout(db: SqliteDatabase, o: ResumeRollout): Rollout {
  if (o.maxRollbacks !== undefined) checkInteger('--max-rollbacks', o.maxRollbacks, 1, MAX_ROLLBACKS_LIMIT);
  const nowMs = o.nowMs ?? Date.now();
  let resumed: Rollout | undefined;
  db.transaction(() => {
    const row = currentRows(db, o.instance, o.release)[0]!;
    const what = `the rollout of release ${row.release} for ${row.instance}`;
    if (row.state !== 'halted') throw refused(`${what} is ${row.state}, not halted`);
    const maxRollbacks = o.maxRollbacks ?? row.max_rollbacks;
    if (row.failures >= maxRollbacks) {
      throw refused(
        `${what} has counted ${row.failures} rollback(s) or failure(s), at its limit of ${maxRollbacks}: resume with a higher --max-rollbacks`,
      );
    }
    db.prepare(
      "UPDATE rollout SET state = 'active', max_rollbacks = ?, halt_reason = NULL, halted_at_ms = NULL, updated_at_ms = ? WHERE id = ?",
    ).run(maxRollbacks, nowMs, row.id);
    const limit = maxRollbacks !== row.max_rollbacks ? `, halts at ${maxRollbacks} rollback(s) or failure(s)` : '';
    auditOperator(db, nowMs, 'rollout-resume', null, row.instance, `release ${row.release} resumed at ${row.percent} %${limit}`);
    resumed = rolloutOf(currentRow(db, row.instance)!);
  }).immediate();
  return resumed!;
}

export interface RolloutQuery {
  readonly instance?: string;
  readonly release?: number;
  /** Superseded rollouts too. */
  readonly all?: boolean;
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
    .all({ instance: q.instance ?? null, release: q.release ?? null, all: q.all === true ? 1 : 0 }) as Row[];
  return rows.map((row) => {
    const rollout = rolloutOf(row);
    const { size, progress } = scan(db, rollout);
    const settled = progress.committed + progress['rolled-back'];
    const state: RolloutState = row.state === 'active' && row.percent === 100 && settled === size.cohort ? 'done' : row.state;
    return { ...rollout, state, ...size, progress };
  });
}

/** Counts rollbacks and failures of cohort devices as their reports are stored, and halts at the limit. */
export class RolloutCounter implements ActivityObserver {
  /** `rollout id, percent, device` already looked at (committed): their repeated reports write nothing. */
  private readonly seen = new Set<string>();
  private pending: string[] = [];
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
    const slots = a.runtime?.slots;
    if (slots === undefined || slots.length === 0) return;
    const r = this.cache.rollout(a.instance);
    if (r === undefined) return;
    const failure = rolloutFailure(a.instance, r.release, slots);
    if (failure === undefined) return;
    const key = `${r.id}\u0000${r.percent}\u0000${a.deviceId}`;
    if (this.seen.has(key)) return;
    this.pending.push(key);
    if (!inCohort(r.release, a.instance, a.deviceId, r.percent)) return;
    if (this.insertFailure.run(r.id, a.deviceId, failure, a.atMs).changes === 0) return;
    const counted = this.countFailure.get(a.atMs, r.id) as
      { failures: number; max_rollbacks: number; state: StoredRolloutState; percent: number } | undefined;
    if (counted === undefined) return;
    const { failures, max_rollbacks: max } = counted;
    this.audit.run(
      a.atMs,
      this.hubId ?? null,
      'rollout-failure',
      `release ${r.release}: ${failure} (${failures} of ${max} before the rollout halts)`,
      a.deviceId,
      a.instance,
    );
    if (counted.state !== 'active' || failures < max) return;
    const reason = `automatic: ${failures} cohort device(s) rolled back or failed (--max-rollbacks ${max}); the last: ${a.deviceId} ${failure}`;
    if (this.halt.run(reason, a.atMs, a.atMs, r.id).changes === 0) return;
    this.audit.run(
      a.atMs,
      this.hubId ?? null,
      'rollout-halt',
      `release ${r.release} halted at ${counted.percent} %: ${reason}`,
      a.deviceId,
      a.instance,
    );
    bumpConfig(this.db); // every hub process on this database stops demanding the release
  }

  settled(committed: boolean): void {
    if (committed) {
      if (this.seen.size + this.pending.length > 100_000) this.seen.clear();
      for (const key of this.pending) this.seen.add(key);
    }
    this.pending = [];
  }
}

/** The rollout's cohort among the active devices enrolled for its instance, and their progress. */
function scan(db: SqliteDatabase, r: Rollout): { size: CohortSize; progress: Record<RolloutProgress, number> } {
  const progress = Object.fromEntries(ROLLOUT_PROGRESS.map((p) => [p, 0])) as Record<RolloutProgress, number>;
  const devices = db
    .prepare(
      `SELECT k.device_id, a.slots FROM device d
       JOIN device_key k ON k.device_id = d.device_id AND k.instance = ?
       LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
       WHERE d.state = 'active'`,
    )
    .all(r.instance) as Array<{ device_id: string; slots: string | null }>;
  let cohort = 0;
  for (const d of devices) {
    if (!inCohort(r.release, r.instance, d.device_id, r.percent)) continue;
    cohort++;
    progress[rolloutProgress(r.instance, r.release, slotsOf(d.slots))]++;
  }
  return { size: { cohort, activeDevices: devices.length }, progress };
}

const UPDATE_STATES: ReadonlySet<string> = new Set<UpdateStateName>([
  'downloading',
  'installed',
  'trial',
  'committed',
  'rolled-back',
  'failed',
]);

/** Stored slot JSON (journal.ts), read defensively: anything unexpected reads as no report. */
function slotsOf(text: string | null): SlotRecord[] {
  if (text === null) return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.flatMap((e: unknown) => {
    if (typeof e !== 'object' || e === null) return [];
    const s = e as Record<string, unknown>;
    if (typeof s.label !== 'string') return [];
    return [
      {
        label: s.label,
        ...(typeof s.version === 'number' ? { version: s.version } : {}),
        ...(typeof s.update === 'string' && UPDATE_STATES.has(s.update) ? { update: s.update as UpdateStateName } : {}),
        ...(typeof s.updateVersion === 'number' ? { updateVersion: s.updateVersion } : {}),
      },
    ];
  });
}

function currentRow(db: SqliteDatabase, instance: string): Row | undefined {
  return db.prepare("SELECT * FROM rollout WHERE instance = ? AND state IN ('active', 'halted')").get(instance) as Row | undefined;
}

/** The current rollouts named (one instance, or all); refused when there is none. */
function currentRows(db: SqliteDatabase, instance: string | undefined, release: number | undefined): Row[] {
  if (instance === undefined) {
    const rows = db.prepare("SELECT * FROM rollout WHERE state IN ('active', 'halted') ORDER BY instance").all() as Row[];
    const named = release === undefined ? rows : rows.filter((r) => r.release === release);
    if (named.length === 0) throw refused(`no rollout${release !== undefined ? ` of release ${release}` : ''} in place on this hub`);
    return named;
  }
  const row = currentRow(db, instance);
  if (row === undefined) throw refused(`no rollout in place for ${instance}`);
  if (release !== undefined && row.release !== release)
    throw refused(`the rollout in place for ${instance} is of release ${row.release}, not ${release}`);
  return [row];
}

function rolloutOf(r: Row): Rollout {
  return {
    instance: r.instance,
    release: r.release,
    ...(r.board !== null ? { board: r.board } : {}),
    percent: r.percent,
    maxRollbacks: r.max_rollbacks,
    state: r.state,
    failures: r.failures,
    ...(r.halt_reason !== null ? { haltReason: r.halt_reason } : {}),
    ...(r.halted_at_ms !== null ? { haltedAtMs: r.halted_at_ms } : {}),
    startedAtMs: r.started_at_ms,
    updatedAtMs: r.updated_at_ms,
  };
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw refused(`${name} must be an integer from ${min} to ${max}, got ${value}`);
}

function refused(message: string): HubStoreError {
  return new HubStoreError('refused', message);
}
