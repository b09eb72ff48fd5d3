/**
 * Replay detection on a SQLite hub, without a write of its own per request. The audit log already
 * records every answered request with its reference (the nonce's first 8 bytes, `AuditEntry.ref`),
 * so it *is* the durable record of answered nonces. The hub keeps the references of the replay
 * window in memory and:
 *
 * - remembers each answered request at once (a replay in the same batch is caught), and forgets the
 *   batch again if its commit fails (those replies never went out; the device's retry is no replay);
 * - at start, reads them back from the audit log's tail, newest first, back to the window's start —
 *   so a hub killed and restarted still refuses what it had answered;
 * - when another connection wrote the database (PRAGMA data_version moved: a second hub process on
 *   the same database), reads the audit rows appended since it last looked;
 * - after each of its own commits with no other writer in between, moves its mark past its own rows,
 *   so a hub that ran alone for hours does not re-read all its own audit rows (seconds of stalled
 *   requests, measured) the first time a second process joins.
 *
 * A random index insert per request (a table keyed by nonce) dirtied a page per request and cost
 * more than the hub's crypto; appending to the audit log costs a fraction of that.
 *
 * 64 bits of a random nonce, scoped to one device and instance and a window of minutes, do not
 * collide by chance; a device cannot aim at another's future nonce.
 */
import { requestRef } from '../replay.ts';
import type { ReplayGuard } from '../replay.ts';
import type { SqliteDatabase } from './database.ts';

/** Outcomes that answered a request (a reply went out). */
const ANSWERED = new Set(['ticket', 'withheld', 'update-required']);

export interface ReplayLogOptions {
  readonly windowMs: number;
  /** Most references kept; the oldest go first past it. Default 2 000 000. */
  readonly capacity?: number;
  readonly nowMs?: number;
}

export class ReplayLog implements ReplayGuard {
  readonly #windowMs: number;
  readonly #capacity: number;
  /** key → answered at (ms); insertion order ≈ time order, so the oldest is first. */
  readonly #seen = new Map<string, number>();
  readonly #tail;
  readonly #maxSeq;
  readonly #dataVersion;
  #lastSeq = 0;
  /** data_version when this log last knew every row up to #lastSeq. */
  #syncedVersion: number;
  #pending: string[] = [];

  constructor(db: SqliteDatabase, options: ReplayLogOptions) {
    this.#windowMs = options.windowMs;
    this.#capacity = options.capacity ?? 2_000_000;
    this.#tail = db.prepare('SELECT seq, at_ms, outcome, device_id, instance, ref FROM audit WHERE seq > ? AND ref IS NOT NULL ORDER BY seq');
    this.#maxSeq = db.prepare('SELECT coalesce(max(seq), 0) FROM audit').pluck();
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.#syncedVersion = this.#dataVersion.get() as number;
    this.#load(db, options.nowMs ?? Date.now());
  }

  /** The newest audit row this log has accounted for (its own, or read back). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get size(): number {
    return this.#seen.size;
  }

  seen(deviceId: string, instance: string, nonce: Uint8Array): boolean {
    return this.#seen.has(key(deviceId, instance, requestRef(nonce)));
  }

  remember(deviceId: string, instance: string, nonce: Uint8Array, atMs: number): void {
    const k = key(deviceId, instance, requestRef(nonce));
    this.#add(k, atMs);
    this.#pending.push(k);
  }

  /** The pending batch was committed: its references stay. */
  committed(): void {
    this.#pending = [];
    // max(seq) first, then data_version: if no other connection committed before the version was
    // read, none committed before max(seq) was read either, so every row up to it is known here.
    const max = this.#maxSeq.get() as number;
    const version = this.#dataVersion.get() as number;
    if (version === this.#syncedVersion) {
      this.#lastSeq = Math.max(this.#lastSeq, max);
    } else {
      this.catchUp();
      this.#syncedVersion = version;
    }
  }

  /** The pending batch was rolled back: its requests were never answered. */
  rolledBack(): void {
    for (const k of this.#pending) this.#seen.delete(k);
    this.#pending = [];
  }

  /** Reads audit rows appended since the last look (by another hub process on the same database). */
  catchUp(): void {
    for (const row of this.#tail.iterate(this.#lastSeq) as IterableIterator<AuditRow>) {
      this.#lastSeq = row.seq;
      if (ANSWERED.has(row.outcome) && row.device_id !== null && row.instance !== null) this.#add(key(row.device_id, row.instance, row.ref), row.at_ms);
    }
  }

  #load(db: SqliteDatabase, nowMs: number): void {
    // Newest first, back to the window's start (a minute of slack for clocks of other hub processes).
    const since = nowMs - this.#windowMs - 60_000;
    const rows: AuditRow[] = [];
    for (const row of db.prepare('SELECT seq, at_ms, outcome, device_id, instance, ref FROM audit ORDER BY seq DESC').iterate() as IterableIterator<AuditRow>) {
      if (this.#lastSeq === 0) this.#lastSeq = row.seq;
      if (row.at_ms < since || rows.length >= this.#capacity) break;
      if (row.ref !== null && ANSWERED.has(row.outcome) && row.device_id !== null && row.instance !== null) rows.push(row);
    }
    for (let i = rows.length - 1; i >= 0; i--) this.#add(key(rows[i]!.device_id!, rows[i]!.instance!, rows[i]!.ref!), rows[i]!.at_ms);
  }

  #add(k: string, atMs: number): void {
    this.#seen.delete(k); // re-insert at the end: insertion order stays time order
    this.#seen.set(k, atMs);
    // Forget what left the window (and anything past capacity), oldest first.
    const horizon = atMs - this.#windowMs;
    for (const [oldest, at] of this.#seen) {
      if (at >= horizon && this.#seen.size <= this.#capacity) break;
      if (this.#pending.length > 0 && oldest === this.#pending[0]) break; // never drop an uncommitted batch
      this.#seen.delete(oldest);
    }
  }
}

interface AuditRow {
  seq: number;
  at_ms: number;
  outcome: string;
  device_id: string | null;
  instance: string | null;
  ref: string | null;
}

function key(deviceId: string, instance: string, ref: string | null): string {
  return `${deviceId}\u0000${instance}\u0000${ref}`;
}
