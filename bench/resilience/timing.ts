/** The timing the resilience bench runs a device at: the project's defaults for an interval. */
import { defaultDeferralMs, timingFor, type DeviceTiming } from '../../actors/device/index.ts';
import { MIN_DEFERRAL_MS } from '../../actors/hub/index.ts';

export interface ResilienceTiming {
  readonly device: DeviceTiming;
  /** What the hubs grant with each ticket. */
  readonly deferralMs: number;
  /** The bound D of docs/ARCHITECTURE.md §2.1: min(deferral, the AWDT's maxDeferralMs). */
  readonly boundMs: number;
}

/** `timingFor(intervalMs)` for the device; for the hubs, the default deferral (`defaultDeferralMs`), as `dominion up` grants. */
export function resilienceTiming(intervalMs: number): ResilienceTiming {
  const device = timingFor(intervalMs);
  const deferralMs = Math.max(MIN_DEFERRAL_MS, defaultDeferralMs(intervalMs));
  return { device, deferralMs, boundMs: Math.min(deferralMs, device.maxDeferralMs) };
}
