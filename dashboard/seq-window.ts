/**
 * A watermark over a PostgreSQL identity column (audit, device_history) for change detection.
 * Identity values commit out of order under concurrent writers, so each poll re-reads a window of
 * OVERLAP values below the watermark and skips the ones it has seen.
 */

/** Values re-read below the watermark (late commits of concurrent workers). */
export const OVERLAP = 512;

export class SeqWindow {
  private seq = 0;
  private readonly seen = new Set<number>();

  /** Sets the watermark; `committed` are the window's values already read (they are not new). */
  reset(max: number, committed: Iterable<number>): void {
    this.seq = max;
    this.seen.clear();
    for (const s of committed) this.seen.add(s);
  }

  /** Where the next read starts (exclusive). */
  get from(): number {
    return Math.max(0, this.seq - OVERLAP);
  }

  /** True the first time a value is read; moves the watermark. */
  accept(seq: number): boolean {
    if (seq <= this.seq && this.seen.has(seq)) return false;
    this.seen.add(seq);
    if (seq > this.seq) this.seq = seq;
    return true;
  }

  /** Forgets values below the window (after a poll). */
  prune(): void {
    for (const s of this.seen) if (s <= this.seq - OVERLAP) this.seen.delete(s);
  }
}
