/**
 * What an operator's switches say about a device's boot (decide-boot.ts), derived from the same
 * holds and policy the ticket path reads, so the two cannot disagree:
 *
 * - an operator withhold on the `device` instance or on the whole device withholds the boot too
 *   (OPERATOR): a withhold is how an operator forces a recovery, and a device kept in recovery mode
 *   runs no services;
 * - a required update that names a release (`dominion require-update --release N`) makes that
 *   release the lowest one the device may boot services with: `device` → `sw` and `hypervisor`,
 *   `mm` → `mm`. A boot reporting a lower version is withheld POLICY_FAILED (`image-too-old`); the
 *   device stays in recovery mode, where sw, the hypervisor and mm still run and can fetch the release;
 * - a granted boot's `initial_timeout_ms` is the `device` instance's deferral under its policy (capped
 *   by its maximum), or DEFAULT_INITIAL_TIMEOUT_MS when no policy applies: the device should get its
 *   services to their first tickets within one deferral of its own.
 */
import type { Instance } from '../../proto/index.ts';
import type { InstancePolicy, UpdateTarget } from './policy.ts';
import { labelsOfInstance } from './releases.ts';

/** A granted boot's timeout when no policy gives the `device` instance a deferral. */
export const DEFAULT_INITIAL_TIMEOUT_MS = 60_000;

export interface BootControls {
  /** The operator's withhold text, when the device instance or the whole device is withheld. */
  readonly withheld?: string;
  /** Lowest release version the operator requires, by image label. */
  readonly required: ReadonlyMap<string, number>;
  /** `initial_timeout_ms` of a granted boot. */
  readonly initialTimeoutMs: number;
}

export const NO_BOOT_CONTROLS: BootControls = Object.freeze({
  required: new Map<string, number>(),
  initialTimeoutMs: DEFAULT_INITIAL_TIMEOUT_MS,
});

/**
 * Boot controls from the `device` instance's policy (undefined: none applies), the operator withhold
 * in force for `device` (its own or device-wide), and the update targets the operator demands.
 */
export function bootControlsOf(
  devicePolicy: InstancePolicy | undefined,
  withheld: string | undefined,
  updates: Iterable<readonly [Instance, UpdateTarget]>,
): BootControls {
  const required = new Map<string, number>();
  for (const [instance, target] of updates) {
    if (instance !== 'device' && instance !== 'mm') continue; // the IH boots with sw, hypervisor and mm only
    for (const label of labelsOfInstance(instance)) required.set(label, Math.max(required.get(label) ?? 0, target.releaseVersion));
  }
  const initialTimeoutMs =
    devicePolicy === undefined
      ? DEFAULT_INITIAL_TIMEOUT_MS
      : Math.min(devicePolicy.deferralMs, devicePolicy.maxDeferralMs ?? devicePolicy.deferralMs);
  return { ...(withheld !== undefined ? { withheld } : {}), required, initialTimeoutMs };
}
