/**
 * When `mm` leaves its broker and when it goes back (docs/ARCHITECTURE.md §7.4): the decision alone,
 * on an injected clock, so it is tested to the millisecond; mqtt-link.ts does the connecting.
 *
 * The provisioning file lists the brokers in order, the first being the primary. The link is on one
 * broker at a time. Whenever it is not up there — the connection was lost, or the connection it
 * opened has not come up — a failover timer runs; if the link is not up again within `failoverMs`,
 * it moves to the next broker in order (wrapping), whose connection gets `failoverMs` in turn. While
 * on a backup it asks for a probe of the primary every `probeEveryMs`; a probe that comes up (a
 * connection to the primary, subscribed) is promoted and the link is back on the primary.
 *
 * A broker that keeps its connection open but answers nothing is `silent` (silence.ts): the link
 * moves on at once, as that silence already lasted `failoverMs`.
 *
 * The default `failoverMs` is half the ticket interval (capped at 10 s): a broker death costs at
 * most I/2 plus one connect before requests flow on the backup, well inside a deferral of 3 × I; a
 * silent broker at most I + I/2 (the next request, then its missing PUBACK) plus one connect.
 */
import type { Clock, ClockHandle } from '../../runtime/index.ts';

/** Failover default: I/2, at most 10 s, at least 100 ms (docs/ARCHITECTURE.md §7.4). */
export function defaultFailoverMs(intervalMs: number): number {
  return Math.min(10_000, Math.max(100, Math.floor(intervalMs / 2)));
}

/** How often a link on a backup tries the primary again, by default. */
export const DEFAULT_PROBE_EVERY_MS = 30_000;

export interface FailoverActions {
  /** Leave broker `from` for broker `to`: close the current connection, open one to `to`. */
  failover(from: number, to: number, reason: string): void;
  /** Open a trial connection to the primary; report it with `probeUp` or `probeFailed`. */
  probe(primary: number): void;
}

export interface FailoverPlanOptions {
  /** How many brokers the provisioning file lists (at least 1; with 1 nothing ever fails over). */
  readonly brokers: number;
  readonly failoverMs: number;
  readonly probeEveryMs: number;
  readonly clock: Clock;
  readonly actions: FailoverActions;
}

export class FailoverPlan {
  /** The broker the link is on (an index into the provisioning file's list). */
  private at = 0;
  private up = false;
  /** Why the link is not up, for the failover's reason. */
  private why = 'no connection yet';
  private failoverTimer: ClockHandle | undefined;
  private probeTimer: ClockHandle | undefined;
  private probing = false;
  private closed = false;

  constructor(private readonly o: FailoverPlanOptions) {
    if (!Number.isInteger(o.brokers) || o.brokers < 1) throw new RangeError('a failover plan needs at least one broker');
  }

  get current(): number {
    return this.at;
  }

  /** The link opened its connection to the current broker (at start, and after each failover). */
  opened(): void {
    this.up = false;
    this.why = 'no connection yet';
    this.armFailover();
  }

  /** The connection to the current broker is up and subscribed. */
  connected(): void {
    this.up = true;
    this.disarm('failover');
    if (this.at !== 0) this.armProbe();
  }

  /** The connection to the current broker went down (`reason`: why, as the link heard it). */
  lost(reason: string): void {
    if (!this.up) return;
    this.up = false;
    this.why = `connection lost (${reason})`;
    this.armFailover();
  }

  /**
   * The current broker went silent while up (silence.ts: a request owed its PUBACK for `failoverMs`,
   * nothing heard meanwhile). It has then not served us for `failoverMs` already, the time a lost
   * connection gets to come back, so the link moves to the next broker at once. False (and nothing
   * changes) when there is no next broker, the link is not up, or the plan is closed.
   */
  silent(reason: string): boolean {
    if (!this.up || this.closed || this.o.brokers < 2) return false;
    this.up = false;
    this.disarm('failover');
    this.moveOn(reason);
    return true;
  }

  /** A connect attempt on the current broker failed (while not up): the reason a failover will give. */
  attemptFailed(reason: string): void {
    if (!this.up) this.why = `cannot connect (${reason})`;
  }

  /** The probe of the primary is up: the link has promoted it and is on the primary again. */
  probeUp(): void {
    this.probing = false;
    this.disarm('probe');
    this.at = 0;
    this.connected();
  }

  /** The probe of the primary did not come up: try again in `probeEveryMs`. */
  probeFailed(): void {
    this.probing = false;
    if (this.up && this.at !== 0) this.armProbe();
  }

  close(): void {
    this.closed = true;
    this.disarm('failover');
    this.disarm('probe');
  }

  private armFailover(): void {
    if (this.o.brokers < 2 || this.closed) return;
    this.disarm('failover');
    this.failoverTimer = this.o.clock.schedule(this.o.clock.now() + this.o.failoverMs, () => {
      this.failoverTimer = undefined;
      if (this.up || this.closed) return;
      this.moveOn(`${this.why}; not up within ${this.o.failoverMs} ms`);
    });
  }

  private moveOn(reason: string): void {
    const from = this.at;
    this.at = (from + 1) % this.o.brokers;
    // A probe in flight belongs to the broker being left behind, or is the primary we now move to.
    this.probing = false;
    this.disarm('probe');
    this.o.actions.failover(from, this.at, reason);
  }

  private armProbe(): void {
    if (this.probeTimer !== undefined || this.probing || this.closed) return;
    this.probeTimer = this.o.clock.schedule(this.o.clock.now() + this.o.probeEveryMs, () => {
      this.probeTimer = undefined;
      if (!this.up || this.at === 0 || this.closed) return;
      this.probing = true;
      this.o.actions.probe(0);
    });
  }

  private disarm(which: 'failover' | 'probe'): void {
    const handle = which === 'failover' ? this.failoverTimer : this.probeTimer;
    if (handle !== undefined) this.o.clock.cancel(handle);
    if (which === 'failover') this.failoverTimer = undefined;
    else this.probeTimer = undefined;
  }
}
