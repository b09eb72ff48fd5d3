/**
 * Replay detection on a SQLite hub, without a write of its own per request. The audit log already
 * records every answered request with its reference (the nonce's first 8 bytes, `AuditEntry.ref`),
 * so it *is* the durable record of answered nonces. The hub keeps the references of the replay
 * window in memory and:
 *
 * - learns a batch's answered requests once the batch committed (a replay inside the batch is caught
 *   by the batch itself, effects.ts `PendingBatch`; a batch whose commit failed never went out, so
 *   the device's retry is no replay);
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
import type { AnsweredNonce } from '../effects.ts';
import { requestRef } from '../replay.ts';
import type { SqliteDatabase } from './database.ts';

/** Outcomes that answered a request (a reply went out). */
export const ANSWERED_OUTCOMES: ReadonlySet<string> = new Set(['ticket', 'withheld', 'update-required']);

export interface ReplayLogOptions {
  readonly windowMs: number;
  /** Most references kept; the oldest go first past it. Default 2 000 000. */
  readonly capacity?: number;
  readonly nowMs?: number;
}

export class ReplayLog {
  private readonly windowMs: number;
  private readonly capacity: number;
  /** key → answered at (ms); insertion order ≈ time order, so the oldest is first. */
  private readonly answered = new Map<string, number>();
  private readonly tail;
  private readonly maxSeq;
  private readonly dataVersion;
  private seq = 0;
  /** data_version when this log last knew every row up to `seq`. */
  private syncedVersion: number;

  constructor(db: SqliteDatabase, options: ReplayLogOptions) {
    this.windowMs = options.windowMs;
    this.capacity = options.capacity ?? 2_000_000;
    this.tail = db.prepare(
      'SELECT seq, at_ms, outcome, device_id, instance, ref FROM audit WHERE seq > ? AND ref IS NOT NULL ORDER BY seq',
    );
    this.maxSeq = db.prepare('SELECT coalesce(max(seq), 0) FROM audit').pluck();
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.syncedVersion = this.dataVersion.get() as number;
    this.load(db, options.nowMs ?? Date.now());
  }

  /** The newest audit row this log has accounted for (its own, or read back). */
  get lastSeq(): number {
    return this.seq;
  }

  get size(): number {
    return this.answered.size;
  }

  seen(deviceId: string, instance: string, nonce: Uint8Array): boolean {
    return this.answered.has(key(deviceId, instance, requestRef(nonce)));
  }

  /** A batch was committed: its answered requests are replays from now on. */
  committed(answered: readonly AnsweredNonce[]): void {
    for (const a of answered) this.add(key(a.deviceId, a.instance, requestRef(a.nonce)), a.atMs);
    // max(seq) first, then data_version: if no other connection committed before the version was
    // read, none committed before max(seq) was read either, so every row up to it is known here.
    const max = this.maxSeq.get() as number;
    const version = this.dataVersion.get() as number;
    if (version === this.syncedVersion) {
      this.seq = Math.max(this.seq, max);
    } else {
      this.catchUp();
      this.syncedVersion = version;
    }
  }

  /** Reads audit rows appended since the last look (by another hub process on the same database). */
  catchUp(): void {
    for (const row of this.tail.iterate(this.seq) as IterableIterator<AuditRow>) {
      this.seq = row.seq;
      if (ANSWERED_OUTCOMES.has(row.outcome) && row.device_id !== null && row.instance !== null)
        this.add(key(row.device_id, row.instance, row.ref), row.at_ms);
    }
  }

  private load(db: SqliteDatabase, nowMs: number): void {
    // Newest first, back to the window's start (a minute of slack for clocks of other hub processes).
    const since = nowMs - this.windowMs - 60_000;
    const rows: AuditRow[] = [];
    for (const row of db
      .prepare('SELECT seq, at_ms, outcome, device_id, instance, ref FROM audit ORDER BY seq DESC')
      .iterate() as IterableIterator<AuditRow>) {
      if (this.seq === 0) this.seq = row.seq;
      if (row.at_ms < since || rows.length >= this.capacity) break;
      if (row.ref !== null && ANSWERED_OUTCOMES.has(row.outcome) && row.device_id !== null && row.instance !== null) rows.push(row);
    }
    for (let i = rows.length - 1; i >= 0; i--) this.add(key(rows[i]!.device_id!, rows[i]!.instance!, rows[i]!.ref!), rows[i]!.at_ms);
  }

  private add(k: string, atMs: number): void {
    this.answered.delete(k); // re-insert at the end: insertion order stays time order
    this.answered.set(k, atMs);
    // Forget what left the window (and anything past capacity), oldest first.
    const horizon = atMs - this.windowMs;
    for (const [oldest, at] of this.answered) {
      if (at >= horizon && this.answered.size <= this.capacity) break;
      this.answered.delete(oldest);
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
