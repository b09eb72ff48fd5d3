/**
 * The hub's audit log (docs/ARCHITECTURE.md §7): one entry per decision, with its reason. Entries
 * name the device, instance, outcome and why — never key, signature or ticket bytes, and of the
 * nonce only a short reference. Each decision's entry is one of its effects (effects.ts): a SQLite
 * hub writes it to the append-only `audit` table with the batch (sqlite/journal.ts); an in-memory
 * hub appends it to an `AuditLog`, such as `MemoryAuditLog`, a bounded ring for tests and demos.
 */
import type { AuditReason, HubOutcome } from './reasons.ts';

/**
 * A decision's outcome, or what happened to an instance outside a request: `timeout` (its deadline
 * passed with no request: silence), `fail` (its deadline passed after the hub refused it: a failed
 * check or a withhold), `operator` (an operator command: quarantine, release, publish, …), `rollout`
 * (a hub counting a cohort device's rollback of a staged rollout's release, or halting the rollout). Boot
 * decisions are `boot-granted` / `boot-withheld` (or `refused`); image transfer writes one `image`
 * row per completed fetch, never one per chunk (decide-image.ts).
 */
export type AuditOutcome = HubOutcome | 'boot-granted' | 'boot-withheld' | 'image' | 'timeout' | 'fail' | 'operator' | 'rollout';

export interface AuditEntry {
  readonly atMs: number;
  readonly outcome: AuditOutcome;
  /** Short machine-readable reason: `granted`, `foreign-actor`, `bad-signature`, `quarantine`, … */
  readonly reason: AuditReason;
  /** Human-readable detail, bounded; for withheld replies, the detail sent to the device. */
  readonly detail?: string;
  /** Present once the request has been authenticated and decoded. */
  readonly deviceId?: string;
  readonly instance?: string;
  /** For tickets: the deferral granted. */
  readonly deferralMs?: number;
  /**
   * Request reference: hex of the first 8 bytes of the request's nonce. Enough to match a device's
   * log line (or a reply it received) to its audit row; the nonce is single-use and travelled in
   * the clear, so its prefix gives nobody anything.
   */
  readonly ref?: string;
}

export interface AuditLog {
  append(entry: AuditEntry): void;
}

/** Keeps the newest `capacity` entries (default 10 000); `total` counts every entry ever appended. */
export class MemoryAuditLog implements AuditLog {
  private readonly capacity: number;
  private readonly ring: AuditEntry[] = [];
  private next = 0;
  private count = 0;

  constructor(capacity = 10_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`audit capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  append(entry: AuditEntry): void {
    const frozen = Object.freeze({ ...entry });
    if (this.ring.length < this.capacity) this.ring.push(frozen);
    else this.ring[this.next] = frozen;
    this.next = (this.next + 1) % this.capacity;
    this.count++;
  }

  /** Retained entries, oldest first. */
  entries(): readonly AuditEntry[] {
    if (this.ring.length < this.capacity) return this.ring.slice();
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  get total(): number {
    return this.count;
  }
}
