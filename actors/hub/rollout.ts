/**
 * Staged rollouts (`dominion rollout`), the parts that need no database: who is in a rollout's
 * cohort, and where an instance stands with the rollout's release according to its slot reports.
 *
 * Cohort: a device is in the cohort of the rollout of release R for instance I at P percent when its
 * cohort point — the first 4 bytes of SHA-512("dominion/v1/rollout" 0x00 R 0x00 I 0x00 device id), as
 * a big-endian uint32 — lies below P % of 2^32. The point is fixed per (release, instance, device), so
 * the cohort is deterministic (every hub process, every run, agrees without storing a list) and
 * monotone in P: widening only adds devices. The release is part of the hash, so each release starts
 * on a different slice of the fleet rather than always on the same canaries. Deciding membership is
 * one hash of a short string: O(1) on the ticket path, whatever the fleet size. The share is exact
 * only on average (a fleet of 20 at 10 % may get 1, 2 or 3 devices); `dominion rollout --status`
 * shows the cohort it actually is.
 *
 * Progress: one state per instance for the rollout's release, from its latest slot reports (every
 * label of the instance; `device` is sw and hypervisor, and its least advanced label counts).
 */
import { nodeBackend } from '../crypto/index.ts';
import { labelsOfInstance } from './releases.ts';
import type { SlotRecord } from './runtime-record.ts';

/**
 * Default `--max-rollbacks`: a count, 1. A rollback is the device's own verdict on the release (its
 * trial never got a ticket, or its bootloader gave up on it) and the first one is the signal a staged
 * rollout exists to catch; a percentage of a small early cohort rounds to nothing, and one of the
 * cohort grows as the rollout widens, letting a bad release get further before it stops.
 */
export const DEFAULT_MAX_ROLLBACKS = 1;

/** Stored states. `done` is not stored: it is read off an active rollout's progress (see rolloutStatus). */
export type StoredRolloutState = 'active' | 'halted' | 'superseded';
export type RolloutState = StoredRolloutState | 'done';

/**
 * Where one instance stands with the rollout's release: `committed` it runs the release (or a later
 * one) outside a trial; `trial`, `installed`, `downloading`, `failed`, `rolled-back` its slot reports
 * say so for that release; `pending` nothing about it yet (not asked, not started, or no report).
 */
export type RolloutProgress = 'pending' | 'downloading' | 'installed' | 'trial' | 'committed' | 'failed' | 'rolled-back';

/** Display and precedence order: for a `device` instance its least advanced label wins, failures first. */
export const ROLLOUT_PROGRESS: readonly RolloutProgress[] = [
  'rolled-back',
  'failed',
  'pending',
  'downloading',
  'installed',
  'trial',
  'committed',
];

const CONTEXT = 'dominion/v1/rollout';
const TWO_32 = 2 ** 32;

/** The device's fixed place (0 … 2^32-1) in every cohort of this release and instance. */
export function cohortPoint(release: number, instance: string, deviceId: string): number {
  const digest = nodeBackend().sha512(new TextEncoder().encode(`${CONTEXT}\u0000${release}\u0000${instance}\u0000${deviceId}`));
  return ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0;
}

/** True when the point lies in the first `percent` % (1 … 100) of the range; exact (no rounding). */
export function inCohortAt(point: number, percent: number): boolean {
  return point * 100 < percent * TWO_32;
}

export function inCohort(release: number, instance: string, deviceId: string, percent: number): boolean {
  return inCohortAt(cohortPoint(release, instance, deviceId), percent);
}

const UNDER_WAY: ReadonlySet<string> = new Set(['downloading', 'installed', 'trial', 'failed', 'rolled-back']);

/** The instance's progress with `release`, from its slot reports (none → pending). */
export function rolloutProgress(instance: string, release: number, slots: readonly SlotRecord[]): RolloutProgress {
  let worst: RolloutProgress | undefined;
  for (const label of labelsOfInstance(instance)) {
    const s = slots.find((slot) => slot.label === label);
    let p: RolloutProgress = 'pending';
    if (s !== undefined) {
      if (s.update !== undefined && UNDER_WAY.has(s.update) && s.updateVersion === release) p = s.update as RolloutProgress;
      else if ((s.version ?? 0) >= release) p = 'committed';
    }
    if (worst === undefined || ROLLOUT_PROGRESS.indexOf(p) < ROLLOUT_PROGRESS.indexOf(worst)) worst = p;
  }
  return worst ?? 'pending';
}

/**
 * What counts towards a rollout's halt: a slot of the instance reporting ROLLED_BACK or FAILED for
 * exactly this release. FAILED counts too: a device that could not fetch, verify or install the
 * release (a wrong manifest, an image over its budget) is as much a sign of a bad release.
 */
export function rolloutFailure(instance: string, release: number, slots: readonly SlotRecord[]): 'rolled-back' | 'failed' | undefined {
  const labels = labelsOfInstance(instance);
  let found: 'rolled-back' | 'failed' | undefined;
  for (const s of slots) {
    if (s.updateVersion !== release || !labels.includes(s.label)) continue;
    if (s.update === 'rolled-back') return 'rolled-back';
    if (s.update === 'failed') found = 'failed';
  }
  return found;
}
