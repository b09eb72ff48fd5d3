/** What a simulated device is made of: identity, keys, pinned hubs, timing, services, its link. */
import type { Clock } from '../../runtime/index.ts';
import type { HubLink } from '../mm/index.ts';
import type { ServiceSpec } from '../sm/index.ts';
import type { DeviceKeys, HubPins } from '../provisioning/index.ts';

export type { DeviceKeys, HubPin, HubPins } from '../provisioning/index.ts';

export interface DeviceTiming {
  /** Ticket round interval per instance (T). */
  readonly intervalMs: number;
  /** Device AWDT timeout at boot, before the first ticket (Lazarus: 30 s). */
  readonly initialTimeoutMs: number;
  /** VM AWDT timeout at each VM boot. */
  readonly vmInitialTimeoutMs: number;
  /** Cap on any ticket's deferral. */
  readonly maxDeferralMs: number;
  /** The receiver retries after this long without a reply. */
  readonly replyTimeoutMs: number;
  /** Simulated time from a reset to the next boot. */
  readonly bootMs: number;
}

export interface DeviceConfig {
  readonly deviceId: string;
  readonly firmwareVersion: string;
  readonly keys: DeviceKeys;
  readonly hubs: HubPins;
  readonly timing: DeviceTiming;
  readonly services: ReadonlyArray<ServiceSpec<never>>;
  /** Root of the device's persistent state: `sw/` and one `sm-<service>/` per service. */
  readonly dataDir: string;
  /** Opens `mm`'s connection to the hubs; called on every `mm` boot. */
  readonly openLink: () => HubLink;
  readonly clock?: Clock;
  /** `manual`: nothing drains on its own (tests call `settle`). Under a ManualClock the device also drains after every fired timer. */
  readonly drain?: 'auto' | 'manual';
  readonly nonce?: () => Uint8Array;
  readonly jitter?: () => number;
  /**
   * False runs the same domains with no AWDT, no ticket receiver and no watchdog — the source
   * system's "VM" baseline for measuring what dominance costs. Never for a real device.
   */
  readonly dominance?: boolean;
  /**
   * False sends service data unsealed (docs/ARCHITECTURE.md §3.1): only for the benchmark that
   * measures what sealing costs. Never for a real device.
   */
  readonly sealServiceData?: boolean;
}

/**
 * The deferral a hub grants by default, in ticket rounds. A ticket taken at a round's start is good
 * until DEFERRAL_ROUNDS rounds later, so DEFERRAL_ROUNDS − 1 whole rounds start before its deadline,
 * each with its retries; the device resets only if all of them are lost: it survives
 * DEFERRAL_ROUNDS − 2 consecutive rounds in which every exchange is lost (docs/ARCHITECTURE.md §2.2,
 * and `npm run bench -- resilience` for what that buys on a lossy network).
 */
export const DEFERRAL_ROUNDS = 5;

/** The default deferral for a ticket interval: DEFERRAL_ROUNDS intervals. */
export function defaultDeferralMs(intervalMs: number): number {
  return DEFERRAL_ROUNDS * intervalMs;
}

export function timingFor(intervalMs: number): DeviceTiming {
  return {
    intervalMs,
    initialTimeoutMs: 10 * intervalMs,
    vmInitialTimeoutMs: 6 * intervalMs,
    maxDeferralMs: 6 * intervalMs,
    replyTimeoutMs: Math.max(50, Math.floor(intervalMs / 4)),
    bootMs: Math.max(100, intervalMs),
  };
}
