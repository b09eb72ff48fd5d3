/**
 * Whether the broker `mm` is on has gone silent (docs/ARCHITECTURE.md §7.4): its TCP connection is
 * still open, but it answers nothing — the process is stopped, or the path to it black-holed. MQTT
 * would notice only at keep-alive; this notices on the injected clock, within `silentMs` of waiting.
 *
 * mm publishes ticket requests at QoS 1, so each one is owed a PUBACK. The broker is silent when a
 * request has been owed its PUBACK for `silentMs` and nothing at all (no PUBACK, reply, message or
 * PINGRESP) came from the broker during those `silentMs`. Counting anything heard, not only the
 * request's own PUBACK, is what keeps a slow but alive link from flapping: a request written behind
 * service data waits for that data to cross the link, and meanwhile the PUBACKs of the service data
 * come back, proving the broker is serving us. Only a gap of `silentMs` with nothing at all is silence.
 *
 * The watch only decides; the link counts it and fails over (failover.ts, `FailoverPlan.silent`).
 * One verdict per connection: the link resets the watch for the next one.
 */
import type { Clock, ClockHandle } from '../../runtime/index.ts';

export interface SilenceWatchOptions {
  readonly clock: Clock;
  /** Waiting on the broker this long with nothing heard is silence (the link gives `failoverMs`). */
  readonly silentMs: number;
  /** The broker is silent: `waitedMs` since the later of the oldest owed request and the last packet heard. */
  readonly silent: (waitedMs: number) => void;
}

export class SilenceWatch {
  /** Requests owed a PUBACK: token → when sent (a Map keeps insertion order, so the first is the oldest). */
  private readonly owed = new Map<number, number>();
  private nextToken = 0;
  private heardAt = Number.NEGATIVE_INFINITY;
  private timer: ClockHandle | undefined;
  /** The verdict was given: nothing more until `reset`. */
  private spoken = false;

  constructor(private readonly o: SilenceWatchOptions) {
    if (!(o.silentMs > 0)) throw new RangeError(`a silence watch needs silentMs > 0, got ${o.silentMs}`);
  }

  /** Requests still owed their PUBACK. */
  get owedCount(): number {
    return this.owed.size;
  }

  /** A request went out on the watched connection; pass the token to `acked` when its PUBACK (or its failure) comes. */
  sent(): number {
    const token = this.nextToken++;
    this.owed.set(token, this.o.clock.now());
    this.arm();
    return token;
  }

  /** The request's PUBACK came (or MQTT.js gave up on it): it is owed nothing. Unknown tokens are ignored. */
  acked(token: number): void {
    if (!this.owed.delete(token)) return;
    if (this.owed.size === 0) this.disarm();
  }

  /** Any packet from the broker: it is alive. */
  heard(): void {
    this.heardAt = this.o.clock.now();
  }

  /** A new connection (or the watched one went down): forget what was owed and heard. */
  reset(): void {
    this.owed.clear();
    this.heardAt = Number.NEGATIVE_INFINITY;
    this.spoken = false;
    this.disarm();
  }

  close(): void {
    this.spoken = true;
    this.owed.clear();
    this.disarm();
  }

  /** When waiting began: the oldest owed request, or the last packet heard if later. */
  private waitingSince(): number | undefined {
    const oldest = this.owed.values().next();
    return oldest.done === true ? undefined : Math.max(oldest.value, this.heardAt);
  }

  private arm(): void {
    if (this.timer !== undefined || this.spoken) return;
    const since = this.waitingSince();
    if (since === undefined) return;
    this.timer = this.o.clock.schedule(since + this.o.silentMs, () => {
      this.timer = undefined;
      const from = this.waitingSince();
      if (from === undefined || this.spoken) return;
      const waited = this.o.clock.now() - from;
      // Something was heard meanwhile: wait on from there.
      if (waited < this.o.silentMs) return this.arm();
      this.spoken = true;
      this.o.silent(waited);
    });
  }

  private disarm(): void {
    if (this.timer !== undefined) this.o.clock.cancel(this.timer);
    this.timer = undefined;
  }
}
