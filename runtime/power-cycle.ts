/**
 * A device's power, whatever runs on it: on, off, and a reset that tears the running incarnation down
 * and, after the boot time, starts a new one — never on behalf of an incarnation that is already gone
 * (an old incarnation cannot reset the new one). The simulated device (actors/device) and the bundled
 * one (actors/device/runner.ts) both run on it.
 */
import type { Clock } from './clock.ts';

export class PowerCycle<T extends { shutdown(): void }> {
  private current: T | null = null;
  private powered = false;

  /** `start` boots one incarnation; it runs again `bootMs` after every reset while powered. */
  constructor(
    private readonly clock: Clock,
    private readonly bootMs: number,
    private readonly start: () => T,
  ) {}

  /** The running incarnation; null while off or between a reset and the next boot. */
  get running(): T | null {
    return this.current;
  }

  on(): void {
    this.powered = true;
    this.current = this.start();
  }

  /** Every domain stops, nothing reboots. */
  off(): void {
    this.powered = false;
    this.current?.shutdown();
    this.current = null;
  }

  /** Shuts `incarnation` down and schedules the next boot; false (and nothing done) if it is not the running one. */
  reset(incarnation: T): boolean {
    if (this.current !== incarnation) return false;
    incarnation.shutdown();
    this.current = null;
    this.clock.schedule(this.clock.now() + this.bootMs, () => {
      if (this.powered && this.current === null) this.current = this.start();
    });
    return true;
  }
}
