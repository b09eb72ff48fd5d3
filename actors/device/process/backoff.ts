/**
 * When a VM process ends on its own, the hypervisor boots it again — at once the first time, then
 * after a delay that doubles with each further exit inside the window (capped), so a VM that
 * crashes as it starts cannot keep a core busy being restarted. Its AWDT keeps running meanwhile.
 */
import type { Clock } from '../../../runtime/index.ts';

export interface BackoffOptions {
  /** Exits older than this are forgotten (default 60 s). */
  readonly windowMs?: number;
  /** Delay before the second restart inside the window (default 500 ms), doubling after. */
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
}

export class CrashBackoff {
  private readonly exits = new Map<string, number[]>();
  private readonly windowMs: number;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly clock: Clock,
    o: BackoffOptions = {},
  ) {
    this.windowMs = o.windowMs ?? 60_000;
    this.firstDelayMs = o.firstDelayMs ?? 500;
    this.maxDelayMs = o.maxDelayMs ?? 30_000;
  }

  /** The delay before restarting `key` after an exit now (and records the exit). */
  delayFor(key: string): number {
    const now = this.clock.now();
    const recent = (this.exits.get(key) ?? []).filter((t) => now - t < this.windowMs);
    recent.push(now);
    this.exits.set(key, recent);
    return recent.length === 1 ? 0 : Math.min(this.maxDelayMs, this.firstDelayMs * 2 ** (recent.length - 2));
  }

  /** Runs `restart` after `key`'s delay. */
  after(key: string, restart: () => void): void {
    const delay = this.delayFor(key);
    if (delay === 0) restart();
    else this.clock.schedule(this.clock.now() + delay, restart);
  }
}
