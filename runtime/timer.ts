import type { Clock, ClockHandle } from './clock.ts';
import type { Timer } from './types.ts';

/** What a timer needs from the actor that owns it. */
export interface TimerOwner<M> {
  readonly clock: Clock;
  /** Current incarnation; a timer from an older one never delivers. */
  readonly generation: number;
  /** Queues this timer on the system lane (never dropped). */
  timerFired(timer: ActorTimer<M>): void;
}

/**
 * A time event owned by one incarnation of an actor (QP/C's QTimeEvt). Fires go through the owner's
 * system lane; at most one fire is pending at a time, further periodic fires are coalesced and counted.
 */
export class ActorTimer<M> implements Timer {
  private handle: ClockHandle | null = null;
  private period = 0;
  /** Bumped by every arm/disarm so a fire queued before it is withdrawn. */
  private armSeq = 0;
  private firedSeq = -1;
  pending = false;
  coalesced = 0;
  private readonly onFire = (): void => this.fire();

  constructor(
    private readonly owner: TimerOwner<M>,
    readonly msg: M,
    private readonly generation: number,
  ) {}

  get armed(): boolean {
    return this.handle !== null;
  }

  get deadline(): number | undefined {
    return this.handle?.atMs;
  }

  arm(delayMs: number, periodMs = 0): void {
    if (!(delayMs >= 0) || !(periodMs >= 0)) {
      throw new RangeError(`timer delay and period must be >= 0 ms, got ${delayMs} and ${periodMs}`);
    }
    this.cancelHandle();
    this.armSeq++;
    if (this.generation !== this.owner.generation) return; // owner restarted: this timer is dead
    this.period = periodMs;
    this.handle = this.owner.clock.schedule(this.owner.clock.now() + delayMs, this.onFire);
  }

  disarm(): boolean {
    const wasArmed = this.handle !== null || this.pending;
    this.cancelHandle();
    this.armSeq++;
    return wasArmed;
  }

  /** True when the queued fire is still current (not disarmed, re-armed or from a past incarnation). */
  deliverable(): boolean {
    this.pending = false;
    return this.firedSeq === this.armSeq && this.generation === this.owner.generation;
  }

  private fire(): void {
    const at = this.handle!.atMs;
    this.handle = null;
    if (this.generation !== this.owner.generation) return;
    if (this.period > 0) this.handle = this.owner.clock.schedule(at + this.period, this.onFire);
    if (this.pending) {
      this.coalesced++;
      return;
    }
    this.pending = true;
    this.firedSeq = this.armSeq;
    this.owner.timerFired(this);
  }

  private cancelHandle(): void {
    if (this.handle !== null) {
      this.owner.clock.cancel(this.handle);
      this.handle = null;
    }
  }
}
