/**
 * The device watchdog behind the `sw` AWDT. `simulated` stops every domain and boots the device
 * again in-process; `linux` (linux-watchdog.ts) drives /dev/watchdog.
 */
import type { ResetReason } from '../../proto/index.ts';

export interface WatchdogBackend {
  readonly kind: 'simulated' | 'linux';
  /** Resets the whole device. Does not return control to anything that could cancel it. */
  reset(reason: ResetReason, detail: string): void;
  /**
   * The device AWDT's deadline (clock ms): set when it is armed at boot and moved by every valid
   * ticket. A hardware backend keeps the device alive until then and no longer; the simulated one
   * has nothing to keep alive.
   */
  holdUntil?(deadlineMs: number): void;
}

/** Hands the reset to whoever runs the simulated board (the device assembly reboots every domain). */
export class SimulatedWatchdog implements WatchdogBackend {
  readonly kind = 'simulated' as const;
  resets = 0;
  constructor(private readonly reboot: (reason: ResetReason, detail: string) => void) {}

  reset(reason: ResetReason, detail: string): void {
    this.resets++;
    this.reboot(reason, detail);
  }
}
