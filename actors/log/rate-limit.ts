/**
 * Per-key rate limiting for log lines that a flood could repeat (docs/ARCHITECTURE.md §7.3): the
 * first occurrence of a key is said at once; later ones within the window are counted, and when the
 * window ends one summary carries how many were held back (and the latest occurrence's message and
 * fields). A key quiet for a whole window starts over. Time and timers come from the injected clock,
 * so tests drive windows with ManualClock.advance.
 *
 * Keys may carry names from the network (a device id on a request topic): the table is bounded, and
 * past `maxKeys` new keys share one overflow entry instead of growing it.
 */
import type { Clock, ClockHandle } from '../../runtime/clock.ts';

export interface Occurrence<T> {
  /** What the caller would say now (the latest occurrence wins a summary). */
  readonly value: T;
  /** Occurrences held back since the last line for this key (0 on a first line). */
  readonly suppressed: number;
}

interface Entry<T> {
  /** End of the current window; occurrences before it are held back. */
  windowEndMs: number;
  suppressed: number;
  latest: T | undefined;
  timer: ClockHandle | undefined;
}

export const OVERFLOW_KEY = '(other keys)';

export class RateLimiter<T> {
  private readonly entries = new Map<string, Entry<T>>();

  /** `say` prints a line: on a first occurrence at once, for a summary at the window's end. */
  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly say: (key: string, o: Occurrence<T>) => void,
    private readonly maxKeys = 1024,
  ) {}

  /** One occurrence of `key`. */
  hit(key: string, value: T): void {
    const now = this.clock.now();
    const k = this.entries.has(key) || this.entries.size < this.maxKeys ? key : OVERFLOW_KEY;
    let entry = this.entries.get(k);
    if (entry !== undefined && now >= entry.windowEndMs && entry.suppressed > 0) {
      // The window's timer is late (a busy loop): its summary first, so no count is lost.
      if (entry.timer !== undefined) this.clock.cancel(entry.timer);
      this.windowEnded(k);
      entry = this.entries.get(k);
    }
    if (entry === undefined || now >= entry.windowEndMs) {
      if (entry?.timer !== undefined) this.clock.cancel(entry.timer);
      this.entries.set(k, { windowEndMs: now + this.windowMs, suppressed: 0, latest: undefined, timer: undefined });
      this.say(k, { value, suppressed: 0 });
      return;
    }
    entry.suppressed++;
    entry.latest = value;
    entry.timer ??= this.clock.schedule(entry.windowEndMs, () => this.windowEnded(k));
  }

  /** Keys with a window open (for tests and the bound). */
  get size(): number {
    return this.entries.size;
  }

  /** Cancels pending summaries (at stop), saying none. */
  clear(): void {
    for (const e of this.entries.values()) if (e.timer !== undefined) this.clock.cancel(e.timer);
    this.entries.clear();
  }

  private windowEnded(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.timer = undefined;
    if (entry.suppressed === 0 || entry.latest === undefined) {
      this.entries.delete(key);
      return;
    }
    const o = { value: entry.latest, suppressed: entry.suppressed };
    // The summary opens the next window: a flood that goes on gets one line per window.
    entry.windowEndMs = this.clock.now() + this.windowMs;
    entry.suppressed = 0;
    entry.latest = undefined;
    entry.timer = this.clock.schedule(entry.windowEndMs, () => this.windowEnded(key));
    this.say(key, o);
  }
}
