/**
 * Replay detection (docs/ARCHITECTURE.md §2): a request whose nonce this hub already answered for the
 * same device and instance is refused, not answered again. The AWDT would reject a second answer
 * anyway (the first answer consumed its nonce); refusing it here keeps a recorded request from
 * making a silent instance look alive in the registry, and keeps the audit honest.
 *
 * `ReplayGuard` is the in-memory hub's seam (`MemoryReplayGuard` keeps the newest `capacity` answered
 * nonces); a SQLite hub reads them back from its audit log (sqlite/replay-log.ts).
 */
import { hex } from '../crypto/index.ts';

export interface ReplayGuard {
  /** True when this nonce was already answered for (device, instance). */
  seen(deviceId: string, instance: string, nonce: Uint8Array): boolean;
  /** Records that the nonce got an answer. */
  remember(deviceId: string, instance: string, nonce: Uint8Array, atMs: number): void;
}

export class MemoryReplayGuard implements ReplayGuard {
  private readonly capacity: number;
  private readonly answered = new Set<string>(); // insertion order = age, so the oldest goes first

  constructor(capacity = 100_000) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`replay capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  seen(deviceId: string, instance: string, nonce: Uint8Array): boolean {
    return this.answered.has(replayKey(deviceId, instance, nonce));
  }

  remember(deviceId: string, instance: string, nonce: Uint8Array): void {
    this.answered.add(replayKey(deviceId, instance, nonce));
    if (this.answered.size > this.capacity) {
      const oldest = this.answered.values().next();
      if (!oldest.done) this.answered.delete(oldest.value);
    }
  }
}

/** One string per (device, instance, nonce); NUL cannot occur in device ids or instance names. */
export function replayKey(deviceId: string, instance: string, nonce: Uint8Array): string {
  return `${deviceId}\u0000${instance}\u0000${hex(nonce)}`;
}

/** Hex of the nonce's first 8 bytes: the audit's request reference (see AuditEntry.ref). */
export function requestRef(nonce: Uint8Array): string {
  return hex(nonce.subarray(0, 8));
}
