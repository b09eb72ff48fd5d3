/**
 * Commit-then-publish (docs/ARCHITECTURE.md §7): hands the pending decisions' effects to the store
 * and, only once they are committed, gives the batch back to be answered. A synchronous store
 * (SQLite) commits at once — or a millisecond later when another process holds the write lock; an
 * asynchronous one (PostgreSQL) keeps one commit in flight, and what arrives meanwhile goes in the
 * next, started when that one settles.
 */
import type { Decided, HubStore, PendingBatch } from './effects.ts';

export interface CommitOutcome {
  /** Committed: answer the batch, except the decisions another process had answered (`replayed`, by index). */
  committed(batch: readonly Decided[], replayed: ReadonlySet<number>): void;
  /** Nothing was stored: the batch's replies must not go out. */
  failed(err: unknown, lost: readonly Decided[]): void;
}

const NONE: ReadonlySet<number> = new Set();

export class CommitPump {
  /** Commit tries deferred because another process held the database's write lock. */
  retries = 0;
  private retryScheduled = false;
  /** The asynchronous store's commit in flight (at most one), settled once its batch is answered. */
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly store: HubStore,
    private readonly pending: PendingBatch,
    private readonly outcome: CommitOutcome,
    /** True once the server stops: no more retries are scheduled. */
    private readonly stopped: () => boolean,
  ) {}

  /** Commits what is pending. `wait` (at stop): wait for another process's write lock instead of retrying later. */
  flush(wait = false): void {
    if (this.pending.size === 0) return;
    if (this.store.commitAsync !== undefined) return this.flushAsync();
    try {
      const effects = this.pending.peek().map((d) => d.effects);
      if (wait) this.store.commit(effects);
      else if (!this.store.tryCommit(effects)) {
        // Another process is writing: keep deciding, try again in a millisecond.
        this.retries++;
        if (!this.retryScheduled && !this.stopped()) {
          this.retryScheduled = true;
          setTimeout(() => {
            this.retryScheduled = false;
            this.flush();
          }, 1);
        }
        return;
      }
    } catch (err) {
      this.outcome.failed(err, this.pending.take());
      return;
    }
    this.outcome.committed(this.pending.take(), NONE);
  }

  /** Commits what is pending and waits until every commit in flight has settled (at stop). */
  async drain(): Promise<void> {
    this.flush(true);
    while (this.inFlight !== undefined) await this.inFlight; // each settle flushes what accumulated
  }

  private flushAsync(): void {
    if (this.inFlight !== undefined || this.pending.size === 0) return;
    const batch = this.pending.take();
    this.inFlight = this.store.commitAsync!(batch.map((d) => d.effects))
      .then(
        ({ replayed }) => this.outcome.committed(batch, replayed),
        (err: unknown) => this.outcome.failed(err, batch),
      )
      .finally(() => {
        this.inFlight = undefined;
        this.flushAsync();
      });
  }
}
