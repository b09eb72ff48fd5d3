/**
 * The summary's charts, kept in memory from the audit rows the watcher reads anyway: tickets and
 * refusals per minute over the last hour, resets per hour by reason over the last day. Seeded at
 * start from the databases (SourceHistory), then fed by every poll; old buckets drop off.
 */
import type { SourceChanges, SourceHistory } from './source.ts';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
const MINUTES = 60;
const HOURS = 24;

export interface RatesJson {
  readonly bucketMs: number;
  readonly start: number;
  readonly tickets: number[];
  readonly refusals: number[];
}

export interface ResetsJson {
  readonly bucketMs: number;
  readonly start: number;
  readonly byReason: Record<string, number[]>;
}

export class Rates {
  private readonly tickets = new Map<number, number>();
  private readonly refusals = new Map<number, number>();
  /** hour start → reason → count */
  private readonly resets = new Map<number, Map<string, number>>();

  /** The window's first instants for `nowMs`: what the sources seed from. */
  static since(nowMs: number): { minutes: number; hours: number } {
    return {
      minutes: floor(nowMs, MINUTE_MS) - (MINUTES - 1) * MINUTE_MS,
      hours: floor(nowMs, HOUR_MS) - (HOURS - 1) * HOUR_MS,
    };
  }

  seed(h: SourceHistory): void {
    for (const [minute, n] of h.tickets) bump(this.tickets, floor(minute, MINUTE_MS), n);
    for (const [minute, n] of h.refusals) bump(this.refusals, floor(minute, MINUTE_MS), n);
    for (const r of h.resets) this.reset(r.atMs, r.reason);
  }

  add(c: SourceChanges): void {
    for (const t of c.tickets) bump(this.tickets, floor(t, MINUTE_MS), 1);
    for (const t of c.refusals) bump(this.refusals, floor(t, MINUTE_MS), 1);
    for (const r of c.resets) this.reset(r.atMs, r.reason);
  }

  rates(nowMs: number): RatesJson {
    const { minutes: start } = Rates.since(nowMs);
    prune(this.tickets, start);
    prune(this.refusals, start);
    const series = (m: Map<number, number>): number[] => Array.from({ length: MINUTES }, (_, i) => m.get(start + i * MINUTE_MS) ?? 0);
    return { bucketMs: MINUTE_MS, start, tickets: series(this.tickets), refusals: series(this.refusals) };
  }

  resetsByReason(nowMs: number): ResetsJson {
    const { hours: start } = Rates.since(nowMs);
    prune(this.resets, start);
    const byReason: Record<string, number[]> = {};
    for (const [hour, reasons] of this.resets) {
      const i = (hour - start) / HOUR_MS;
      if (i < 0 || i >= HOURS) continue;
      for (const [reason, n] of reasons) (byReason[reason] ??= new Array<number>(HOURS).fill(0))[i]! += n;
    }
    return { bucketMs: HOUR_MS, start, byReason };
  }

  private reset(atMs: number, reason: string): void {
    const hour = floor(atMs, HOUR_MS);
    let m = this.resets.get(hour);
    if (m === undefined) this.resets.set(hour, (m = new Map()));
    bump(m, reason, 1);
  }
}

function floor(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

function bump<K>(m: Map<K, number>, k: K, n: number): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

function prune<V>(m: Map<number, V>, start: number): void {
  for (const k of m.keys()) if (k < start) m.delete(k);
}
