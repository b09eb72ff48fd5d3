/** The timing the resilience bench runs a device at: the project's defaults for an interval. */
import { timingFor, type DeviceTiming } from '../../actors/device/index.ts';

export interface ResilienceTiming {
  readonly device: DeviceTiming;
  /** What the hubs grant with each ticket. */
  readonly deferralMs: number;
  /** The bound D of docs/ARCHITECTURE.md §2.1: min(deferral, the AWDT's maxDeferralMs). */
  readonly boundMs: number;
}

/** The hubs' minimum deferral (actors/hub/policy.ts MIN_DEFERRAL_MS: MQTT expiry is in whole seconds). */
const HUB_MIN_DEFERRAL_MS = 1000;

/**
 * `timingFor(intervalMs)` for the device; for the hubs, the device timing's own `deferralMs` when it
 * has one, else what `dominion up` grants (cli/up.ts, cli/up-device.ts: 3 × interval).
 */
export function resilienceTiming(intervalMs: number): ResilienceTiming {
  const device = timingFor(intervalMs);
  const own = (device as DeviceTiming & { readonly deferralMs?: number }).deferralMs;
  const deferralMs = Math.max(HUB_MIN_DEFERRAL_MS, own ?? 3 * intervalMs);
  return { device, deferralMs, boundMs: Math.min(deferralMs, device.maxDeferralMs) };
}
