/**
 * Time, injected. Everything in the runtime reads time and schedules callbacks through a `Clock`, so
 * tests drive time with `ManualClock.advance(ms)` and never sleep. `RealClock` is the only place in
 * `runtime/` that touches the host's timers.
 */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls `fire` once at `atMs` (or as soon as possible after it). */
  schedule(atMs: number, fire: () => void): ClockHandle;
  cancel(handle: ClockHandle): void;
}

/** Opaque to callers; each clock keeps its own kind of handle behind it. */
export interface ClockHandle {
  readonly atMs: number;
}

export class RealClock implements Clock {
  private readonly origin = performance.now();

  now(): number {
    return performance.now() - this.origin;
  }

  schedule(atMs: number, fire: () => void): ClockHandle {
    const timeout = setTimeout(fire, Math.max(0, atMs - this.now()));
    return new RealHandle(atMs, timeout);
  }

  cancel(handle: ClockHandle): void {
    if (handle instanceof RealHandle) clearTimeout(handle.timeout);
  }
}

class RealHandle implements ClockHandle {
  constructor(
    readonly atMs: number,
    readonly timeout: ReturnType<typeof setTimeout>,
  ) {}
}

/** How the scheduler asks the host to run it again after yielding. */
export type Waker = (run: () => void) => void;

/** Yield to the Node event loop so I/O is served between scheduler batches. */
export const immediateWaker: Waker = (run) => {
  setImmediate(run);
};

class ManualEntry implements ClockHandle {
  cancelled = false;
  constructor(
    readonly atMs: number,
    readonly seq: number,
    readonly fire: () => void,
  ) {}
}

/**
 * Deterministic time for tests and simulation. Due callbacks fire in deadline order (ties in the order
 * they were scheduled); after each one, `afterFire` listeners run, which is where a test system drains
 * its actors so that every consequence of a timer happens at the instant it fired.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly heap: ManualEntry[] = [];
  private readonly listeners: Array<() => void> = [];

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  schedule(atMs: number, fire: () => void): ClockHandle {
    const entry = new ManualEntry(atMs, this.seq++, fire);
    this.push(entry);
    return entry;
  }

  cancel(handle: ClockHandle): void {
    if (handle instanceof ManualEntry) handle.cancelled = true;
  }

  /** Registers a listener run after every fired callback. */
  afterFire(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Deadline of the next live callback, or `undefined` when none is scheduled. */
  nextDeadline(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.atMs;
  }

  /** Moves time forward by `ms`, firing every callback due on the way, in order. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    this.advanceTo(this.current + ms);
  }

  advanceTo(targetMs: number): void {
    for (;;) {
      this.dropCancelled();
      const next = this.heap[0];
      if (next === undefined || next.atMs > targetMs) break;
      this.pop();
      if (next.atMs > this.current) this.current = next.atMs;
      next.fire();
      for (const listener of this.listeners) listener();
    }
    if (targetMs > this.current) this.current = targetMs;
  }

  /** Number of live scheduled callbacks (for tests that check cancellation). */
  pending(): number {
    let n = 0;
    for (const e of this.heap) if (!e.cancelled) n++;
    return n;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
  }

  private before(a: ManualEntry, b: ManualEntry): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private push(entry: ManualEntry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
