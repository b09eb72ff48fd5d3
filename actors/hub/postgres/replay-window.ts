/**
 * Replay detection on a PostgreSQL hub worker (docs/ARCHITECTURE.md §7.4). Single use of a nonce is
 * the device's AWDT's job; the hub's part is keeping the audit honest, without a cross-worker lock
 * on the hot path:
 *
 * - `seen()` answers from this worker's memory: the nonces it committed within the window (and, at
 *   start, those of every worker, read from `answered_nonce`) plus those of its commit in flight;
 * - the commit inserts each answered nonce into `answered_nonce` (unique per device, instance,
 *   nonce) with ON CONFLICT DO NOTHING: a nonce another worker already committed (a QoS 1
 *   redelivery after a worker died, say) is not inserted, and that decision is rewritten in the same
 *   transaction as refused `replayed`, its reply withheld (pg-journal.ts, hub-server.ts).
 */
import type { AnsweredNonce } from '../effects.ts';
import { replayKey } from '../replay.ts';

export class ReplayWindow {
  /** key → answered at (ms); insertion order ≈ time order. */
  private readonly answered = new Map<string, number>();
  private inFlight = new Set<string>();

  constructor(
    private readonly windowMs: number,
    private readonly capacity = 2_000_000,
  ) {}

  get size(): number {
    return this.answered.size;
  }

  seen(deviceId: string, instance: string, nonce: Uint8Array): boolean {
    const k = replayKey(deviceId, instance, nonce);
    return this.answered.has(k) || this.inFlight.has(k);
  }

  /** A commit started: its nonces count as answered until it settles. */
  begin(answered: readonly AnsweredNonce[]): void {
    this.inFlight = new Set(answered.map((a) => replayKey(a.deviceId, a.instance, a.nonce)));
  }

  /** The commit settled: committed nonces are remembered; a failed commit's are forgotten (the retry is no replay). */
  settle(answered: readonly AnsweredNonce[], committed: boolean): void {
    this.inFlight = new Set();
    if (committed) for (const a of answered) this.remember(replayKey(a.deviceId, a.instance, a.nonce), a.atMs);
  }

  remember(key: string, atMs: number): void {
    this.answered.delete(key);
    this.answered.set(key, atMs);
    const horizon = atMs - this.windowMs;
    for (const [oldest, at] of this.answered) {
      if (at >= horizon && this.answered.size <= this.capacity) break;
      this.answered.delete(oldest);
    }
  }
}
