/**
 * Staged rollouts (`dominion rollout`): what the operator commands and the failure counting decide,
 * the same on either store. The stores read and write the `rollout` rows (sqlite/rollouts.ts
 * synchronously, postgres/rollouts.ts and postgres/rollout-counter.ts asynchronously); this says
 * which change a command makes, what it refuses, what the audit rows say, and which reports count.
 * The cohort and the progress of one instance are rollout.ts.
 */
import type { Instance } from '../../proto/index.ts';
import type { ActivityEffect } from './effects.ts';
import { cleanDetail } from './policy.ts';
import {
  DEFAULT_MAX_ROLLBACKS,
  inCohort,
  ROLLOUT_PROGRESS,
  rolloutFailure,
  rolloutProgress,
  type RolloutProgress,
  type RolloutState,
  type StoredRolloutState,
} from './rollout.ts';
import type { SlotRecord, UpdateStateName } from './runtime-record.ts';
import { HubStoreError } from './sqlite/errors.ts';

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

export interface HaltRollouts {
  /** Only this instance's rollout; default: every active rollout of the hub (an emergency stop). */
  readonly instance?: Instance;
  /** When given, the instance's current rollout must be of this release. */
  readonly release?: number;
  readonly reason?: string;
  readonly nowMs?: number;
}

export interface ResumeRollout {
  readonly instance: Instance;
  readonly release?: number;
  /** A new limit; it must be above the rollbacks and failures already counted. */
  readonly maxRollbacks?: number;
  readonly nowMs?: number;
}

export interface RolloutQuery {
  readonly instance?: string;
  readonly release?: number;
  /** Superseded rollouts too. */
  readonly all?: boolean;
}

/** A `rollout` row as both stores keep it. */
export interface RolloutRow {
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

/** What `start` does with the instance's current rollout: widen it, or start a new one (superseding it). */
export type StartPlan =
  { readonly kind: 'widen'; readonly current: RolloutRow } | { readonly kind: 'start'; readonly supersede?: RolloutRow };

export function checkStart(o: StartRollout): void {
  checkInteger('--percent', o.percent, 1, 100);
  checkInteger('--release', o.release, 1, Number.MAX_SAFE_INTEGER);
  if (o.maxRollbacks !== undefined) checkInteger('--max-rollbacks', o.maxRollbacks, 1, MAX_ROLLBACKS_LIMIT);
}

/** `earlier`: a rollout of this release and instance is stored (necessarily superseded if not current). */
export function planStart(current: RolloutRow | undefined, earlier: boolean, o: StartRollout): StartPlan {
  if (current !== undefined && current.release === o.release) return { kind: 'widen', current };
  if (earlier) throw refused(`release ${o.release} of ${o.instance} was rolled out before and superseded; roll out a newer release`);
  if (current !== undefined && o.release < current.release) {
    throw refused(
      `release ${o.release} is older than the rollout of ${o.instance} in place (release ${current.release}); a device that runs ${current.release} meets it already`,
    );
  }
  return current === undefined ? { kind: 'start' } : { kind: 'start', supersede: current };
}

/** The audit detail of a started rollout. */
export function startDetail(o: StartRollout, maxRollbacks: number, superseded: RolloutRow | undefined): string {
  const replaced = superseded === undefined ? '' : `; supersedes the rollout of release ${superseded.release} (${superseded.state})`;
  const board = o.board !== undefined ? ` (board ${o.board})` : '';
  return `release ${o.release} to ${o.percent} % of devices${board}, halts at ${maxRollbacks} rollback(s) or failure(s)${replaced}`;
}

export type WidenPlan =
  | { readonly change: 'unchanged' }
  | { readonly change: 'widened'; readonly percent: number; readonly maxRollbacks: number; readonly detail: string };

export function planWiden(current: RolloutRow, o: StartRollout): WidenPlan {
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
  if (o.percent === current.percent && maxRollbacks === current.max_rollbacks) return { change: 'unchanged' };
  const limit = maxRollbacks !== current.max_rollbacks ? `, halts at ${maxRollbacks} rollback(s) or failure(s)` : '';
  const detail = `release ${current.release} widened from ${current.percent} % to ${o.percent} %${limit}`;
  return { change: 'widened', percent: o.percent, maxRollbacks, detail };
}

/** The halt reason an operator's `--halt` records. */
export function operatorHaltReason(reason: string | undefined): string {
  return `operator: ${reason !== undefined && reason.trim() !== '' ? cleanDetail(reason) : 'halted by hand'}`;
}

/** The audit detail of a halt (by hand or automatic). */
export function haltDetail(release: number, percent: number, reason: string): string {
  return `release ${release} halted at ${percent} %: ${reason}`;
}

/** The current rollouts named (one instance, or all), from every current row; refused when there is none. */
export function pickCurrent(current: readonly RolloutRow[], instance: string | undefined, release: number | undefined): RolloutRow[] {
  if (instance === undefined) {
    const rows = [...current].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
    const named = release === undefined ? rows : rows.filter((r) => r.release === release);
    if (named.length === 0) throw refused(`no rollout${release !== undefined ? ` of release ${release}` : ''} in place on this hub`);
    return named;
  }
  const row = current.find((r) => r.instance === instance);
  if (row === undefined) throw refused(`no rollout in place for ${instance}`);
  if (release !== undefined && row.release !== release)
    throw refused(`the rollout in place for ${instance} is of release ${row.release}, not ${release}`);
  return [row];
}

export function planResume(row: RolloutRow, o: ResumeRollout): { readonly maxRollbacks: number; readonly detail: string } {
  const what = `the rollout of release ${row.release} for ${row.instance}`;
  if (row.state !== 'halted') throw refused(`${what} is ${row.state}, not halted`);
  const maxRollbacks = o.maxRollbacks ?? row.max_rollbacks;
  if (row.failures >= maxRollbacks) {
    throw refused(
      `${what} has counted ${row.failures} rollback(s) or failure(s), at its limit of ${maxRollbacks}: resume with a higher --max-rollbacks`,
    );
  }
  const limit = maxRollbacks !== row.max_rollbacks ? `, halts at ${maxRollbacks} rollback(s) or failure(s)` : '';
  return { maxRollbacks, detail: `release ${row.release} resumed at ${row.percent} %${limit}` };
}

export function checkResume(o: ResumeRollout): void {
  if (o.maxRollbacks !== undefined) checkInteger('--max-rollbacks', o.maxRollbacks, 1, MAX_ROLLBACKS_LIMIT);
}

export function rolloutOf(r: RolloutRow): Rollout {
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

/** An active device enrolled for the rollout's instance, with its stored slot reports (JSON text). */
export interface EnrolledSlots {
  readonly device_id: string;
  readonly slots: string | null;
}

/** The rollout's cohort among `devices` and their progress with its release. */
export function cohortOf(r: Rollout, devices: readonly EnrolledSlots[]): { size: CohortSize; progress: Record<RolloutProgress, number> } {
  const progress = Object.fromEntries(ROLLOUT_PROGRESS.map((p) => [p, 0])) as Record<RolloutProgress, number>;
  let cohort = 0;
  for (const d of devices) {
    if (!inCohort(r.release, r.instance, d.device_id, r.percent)) continue;
    cohort++;
    progress[rolloutProgress(r.instance, r.release, slotsOf(d.slots))]++;
  }
  return { size: { cohort, activeDevices: devices.length }, progress };
}

/** `--status` of one stored rollout, given its instance's active enrolled devices. */
export function statusOf(row: RolloutRow, devices: readonly EnrolledSlots[]): RolloutStatus {
  const rollout = rolloutOf(row);
  const { size, progress } = cohortOf(rollout, devices);
  const settled = progress.committed + progress['rolled-back'];
  const state: RolloutState = row.state === 'active' && row.percent === 100 && settled === size.cohort ? 'done' : row.state;
  return { ...rollout, state, ...size, progress };
}

export { DEFAULT_MAX_ROLLBACKS };

/** The instance's current rollout as a store's cache holds it, for counting failures. */
export interface CountedRollout {
  readonly id: number;
  readonly release: number;
  readonly percent: number;
}

/** A cohort device's rollback or failure of the release, to be counted once (a `rollout_failure` row). */
export interface RolloutFailureReport {
  readonly rolloutId: number;
  readonly release: number;
  readonly deviceId: string;
  readonly instance: string;
  readonly failure: 'rolled-back' | 'failed';
  readonly atMs: number;
}

/**
 * Which stored reports may count towards a rollout's halt: a cohort device's instance reporting
 * ROLLED_BACK or FAILED for the release. A device's repeated reports are remembered once committed
 * (per rollout and percent), so they cost a set lookup, not a write; the store's unique key
 * (rollout, device) keeps a device from counting twice across processes or restarts.
 */
export class RolloutFailureWatch {
  private readonly seen = new Set<string>();
  private pending: string[] = [];

  /** The report to count, if this activity is one not looked at before. */
  check(r: CountedRollout | undefined, a: ActivityEffect): RolloutFailureReport | undefined {
    const slots = a.runtime?.slots;
    if (r === undefined || slots === undefined || slots.length === 0) return undefined;
    const failure = rolloutFailure(a.instance, r.release, slots);
    if (failure === undefined) return undefined;
    const key = `${r.id}\u0000${r.percent}\u0000${a.deviceId}`;
    if (this.seen.has(key)) return undefined;
    this.pending.push(key);
    if (!inCohort(r.release, a.instance, a.deviceId, r.percent)) return undefined;
    return { rolloutId: r.id, release: r.release, deviceId: a.deviceId, instance: a.instance, failure, atMs: a.atMs };
  }

  /** The transaction ended: what it looked at is remembered only if it committed. */
  settled(committed: boolean): void {
    if (committed) {
      if (this.seen.size + this.pending.length > 100_000) this.seen.clear();
      for (const key of this.pending) this.seen.add(key);
    }
    this.pending = [];
  }
}

/** The audit detail of a counted failure: `failures` counted so far, `max` the limit. */
export function failureDetail(f: RolloutFailureReport, failures: number, max: number): string {
  return `release ${f.release}: ${f.failure} (${failures} of ${max} before the rollout halts)`;
}

/** Why a rollout halted by itself, naming the failure that reached the limit. */
export function automaticHaltReason(f: RolloutFailureReport, failures: number, max: number): string {
  return `automatic: ${failures} cohort device(s) rolled back or failed (--max-rollbacks ${max}); the last: ${f.deviceId} ${f.failure}`;
}

const UPDATE_STATES: ReadonlySet<string> = new Set<UpdateStateName>([
  'downloading',
  'installed',
  'trial',
  'committed',
  'rolled-back',
  'failed',
]);

/** Stored slot JSON (the journals' `slots`), read defensively: anything unexpected reads as no report. */
export function slotsOf(text: string | null): SlotRecord[] {
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

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw refused(`${name} must be an integer from ${min} to ${max}, got ${value}`);
}

function refused(message: string): HubStoreError {
  return new HubStoreError('refused', message);
}
