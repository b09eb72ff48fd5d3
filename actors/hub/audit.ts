/**
 * The hub's audit log (ARCHITECTURE.md §7): one entry per decision, with its reason. Entries name the
 * device, instance, outcome and why — never key, nonce, signature or ticket bytes. `AuditLog` is the
 * seam for the append-only SQLite log; `MemoryAuditLog` keeps a bounded ring for tests and status.
 */
import type { HubOutcome } from './hub-core.ts';

export interface AuditEntry {
  readonly atMs: number;
  readonly outcome: HubOutcome;
  /** Short machine-readable reason: `granted`, `policy-failed`, `bad-signature`, … */
  readonly reason: string;
  /** Human-readable detail, bounded; for withheld replies, the detail sent to the device. */
  readonly detail?: string;
  /** Present once the request has been authenticated and decoded. */
  readonly deviceId?: string;
  readonly instance?: string;
  /** For tickets: the deferral granted. */
  readonly deferralMs?: number;
}

export interface AuditLog {
  append(entry: AuditEntry): void;
}

/** Keeps the newest `capacity` entries (default 10 000); `total` counts every entry ever appended. */
export class MemoryAuditLog implements AuditLog {
  readonly #capacity: number;
  readonly #ring: AuditEntry[] = [];
  #next = 0;
  #total = 0;

  constructor(capacity = 10_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`audit capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  append(entry: AuditEntry): void {
    const frozen = Object.freeze({ ...entry });
    if (this.#ring.length < this.#capacity) this.#ring.push(frozen);
    else this.#ring[this.#next] = frozen;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#total++;
  }

  /** Retained entries, oldest first. */
  entries(): readonly AuditEntry[] {
    if (this.#ring.length < this.#capacity) return this.#ring.slice();
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }

  get total(): number {
    return this.#total;
  }
}
