/**
 * What the fleet's AWDTs would have done: each simulated device holds a deadline; a ticket moves it to
 * (when the device drew the request's nonce) + the ticket's deferral (docs/PROTOCOL.md: the deferral
 * counts from the nonce draw, not from the ticket's arrival). A device whose deadline passes before a
 * ticket moves it "would have reset": counted once per expiry, and its deadline is cleared until its
 * next ticket (a rebooted device asks again). Time is whatever clock the caller reads (ms), so tests
 * drive it with a ManualClock.
 */
export class DeadlineBook {
  private readonly deadlines: Float64Array;
  private resets_ = 0;
  private readonly resetDevices = new Set<number>();

  /** Every device starts as if it had just been granted `initialDeferralMs` at `startMs` (its boot). */
  constructor(devices: number, startMs: number, initialDeferralMs: number) {
    this.deadlines = new Float64Array(devices).fill(startMs + initialDeferralMs);
  }

  /** A ticket for `device`'s request whose nonce was drawn at `drawnAtMs`, arrived at `nowMs`. */
  ticket(device: number, drawnAtMs: number, deferralMs: number, nowMs: number): void {
    this.expire(device, nowMs);
    const next = drawnAtMs + deferralMs;
    // A ticket for an older request never shortens a deadline a newer one set.
    if (Number.isNaN(this.deadlines[device]!) || next > this.deadlines[device]!) this.deadlines[device] = next;
  }

  /** Counts every device whose deadline has passed by `nowMs`; call periodically and at the end. */
  sweep(nowMs: number): number {
    const before = this.resets_;
    for (let d = 0; d < this.deadlines.length; d++) this.expire(d, nowMs);
    return this.resets_ - before;
  }

  /** Expiries counted so far (a device can reset more than once). */
  get resets(): number {
    return this.resets_;
  }

  /** Distinct devices that reset at least once. */
  get devicesReset(): number {
    return this.resetDevices.size;
  }

  /** The device's deadline (ms), or undefined while it is reset and waiting for a ticket. */
  deadlineOf(device: number): number | undefined {
    const d = this.deadlines[device]!;
    return Number.isNaN(d) ? undefined : d;
  }

  private expire(device: number, nowMs: number): void {
    const d = this.deadlines[device]!;
    if (!Number.isNaN(d) && d < nowMs) {
      this.resets_++;
      this.resetDevices.add(device);
      this.deadlines[device] = NaN;
    }
  }
}
