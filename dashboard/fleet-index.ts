/**
 * The fleet in memory, one small record per device (docs/ARCHITECTURE.md, "The dashboard"): the
 * device table's columns only, so paging, sorting, searching and counting 100,000 devices never
 * touch the databases. Built by one scan of each hub at start, then refreshed device by device from
 * the rows that changed (the watcher) and when a deadline that is still ahead passes (`due`).
 */
import type { FleetRow } from '../actors/hub/sqlite/index.ts';
import { DEVICE_STATES, DeviceFold, type DeviceListRow, type DeviceStateName } from './types.ts';

export type SortKey = 'id' | 'state' | 'lastRequest' | 'deadline';

export interface DeviceQuery {
  readonly q: string;
  readonly state: DeviceStateName | '';
  readonly sort: SortKey;
  readonly dir: 'asc' | 'desc';
  readonly offset: number;
  readonly limit: number;
}

export interface DevicePage {
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly rows: readonly DeviceListRow[];
}

/** Table order of states for sort=state: the worst first when descending. */
const STATE_ORDER: Readonly<Record<DeviceStateName, number>> = {
  NEVER: 0,
  OK: 1,
  UPDATE: 2,
  WITHHELD: 3,
  FAIL: 4,
  TIMEOUT: 5,
  QUARANTINED: 6,
  REVOKED: 7,
};

/** One device: its table line, and when its state next changes by itself (a deadline ahead). */
interface Entry {
  row: DeviceListRow;
  flipAtMs: number | null;
  /** The id lower-cased for search (the same string when it has no capitals: no copy). */
  readonly lower: string;
}

export class FleetIndex {
  private readonly byId = new Map<string, Entry>();
  /** Device ids in code-unit order (sort=id), kept sorted as devices appear. */
  private ids: string[] = [];
  private version = 0;
  /** The last filtered-and-sorted list per query shape, valid while `version` stands. */
  private cache = new Map<string, { version: number; list: Entry[] }>();

  get size(): number {
    return this.byId.size;
  }

  /** Builds the index from every source's rows (grouped by device within each source). */
  load(folds: ReadonlyMap<string, DeviceFold>): void {
    for (const fold of folds.values()) this.put(fold, false);
    this.ids = [...this.byId.keys()].sort(compareIds);
    this.version++;
  }

  /** Replaces these devices' records from their current rows (all hubs); returns the ids whose line changed. */
  refresh(deviceIds: Iterable<string>, rows: readonly FleetRow[], nowMs: number): string[] {
    const folds = foldRows(rows, nowMs);
    const changed: string[] = [];
    for (const id of deviceIds) {
      const fold = folds.get(id);
      const before = this.byId.get(id);
      if (fold === undefined) continue; // not enrolled (anymore): devices are never deleted, so keep what we had
      const entry = this.put(fold, before === undefined);
      if (before === undefined || !sameRow(before.row, entry.row)) changed.push(id);
    }
    if (changed.length > 0) {
      this.version++;
      this.cache.clear();
    }
    return changed;
  }

  /** Devices whose state flips by itself at or before `nowMs` (an unswept deadline passed). */
  due(nowMs: number, max = Infinity): string[] {
    const out: string[] = [];
    for (const [id, e] of this.byId) {
      if (e.flipAtMs === null || e.flipAtMs > nowMs) continue;
      out.push(id);
      if (out.length >= max) break;
    }
    return out;
  }

  get(deviceId: string): DeviceListRow | undefined {
    return this.byId.get(deviceId)?.row;
  }

  counts(): Record<DeviceStateName, number> {
    const counts = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<DeviceStateName, number>;
    for (const e of this.byId.values()) counts[e.row.state]++;
    return counts;
  }

  page(query: DeviceQuery): DevicePage {
    const { offset, limit } = query;
    // The common first view, every device by id: no filtering or sorting at all.
    if (query.q === '' && query.state === '' && query.sort === 'id') {
      const n = this.ids.length;
      const rows: DeviceListRow[] = [];
      for (let i = offset; i < Math.min(n, offset + limit); i++)
        rows.push(this.byId.get(this.ids[query.dir === 'asc' ? i : n - 1 - i]!)!.row);
      return { total: n, offset, limit, rows };
    }
    const list = this.sorted(query);
    return { total: list.length, offset, limit, rows: list.slice(offset, offset + limit).map((e) => e.row) };
  }

  private sorted(query: DeviceQuery): Entry[] {
    const key = `${query.q}\u0000${query.state}\u0000${query.sort}\u0000${query.dir}`;
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.version === this.version) return hit.list;
    const q = query.q.toLowerCase();
    const list: Entry[] = [];
    for (const id of this.ids) {
      const e = this.byId.get(id)!;
      if (q !== '' && !e.lower.includes(q)) continue;
      if (query.state !== '' && e.row.state !== query.state) continue;
      list.push(e);
    }
    // ids is already in id order, and Array.prototype.sort is stable: ties stay by id.
    const sign = query.dir === 'asc' ? 1 : -1;
    if (query.sort === 'state') list.sort((a, b) => sign * (STATE_ORDER[a.row.state] - STATE_ORDER[b.row.state]));
    else if (query.sort === 'lastRequest') list.sort((a, b) => nullsLast(a.row.lastRequestAtMs, b.row.lastRequestAtMs, sign));
    else if (query.sort === 'deadline') list.sort((a, b) => nullsLast(a.row.nextDeadlineMs, b.row.nextDeadlineMs, sign));
    else if (query.dir === 'desc') list.reverse();
    if (this.cache.size >= 8) this.cache.clear();
    this.cache.set(key, { version: this.version, list });
    return list;
  }

  private put(fold: DeviceFold, insertSorted: boolean): Entry {
    const row = fold.row();
    const id = fold.deviceId;
    const lower = id.toLowerCase();
    const entry: Entry = { row, flipAtMs: fold.flipAtMs, lower: lower === id ? id : lower };
    if (insertSorted && !this.byId.has(id)) this.ids.splice(insertionPoint(this.ids, id), 0, id);
    this.byId.set(id, entry);
    return entry;
  }
}

/** Folds rows (several hubs' rows of one device merge) into one DeviceFold per device. */
export function foldRows(rows: Iterable<FleetRow>, nowMs: number, into = new Map<string, DeviceFold>()): Map<string, DeviceFold> {
  for (const r of rows) foldRow(r, nowMs, into);
  return into;
}

export function foldRow(r: FleetRow, nowMs: number, into: Map<string, DeviceFold>): void {
  let fold = into.get(r.deviceId);
  if (fold === undefined) into.set(r.deviceId, (fold = new DeviceFold(r.deviceId)));
  fold.add(r, nowMs);
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function insertionPoint(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function nullsLast(a: number | null, b: number | null, sign: number): number {
  if (a === null) return b === null ? 0 : 1;
  if (b === null) return -1;
  return sign * (a - b);
}

function sameRow(a: DeviceListRow, b: DeviceListRow): boolean {
  return (
    a.state === b.state &&
    a.reason === b.reason &&
    a.instances === b.instances &&
    a.lastRequestAtMs === b.lastRequestAtMs &&
    a.nextDeadlineMs === b.nextDeadlineMs &&
    a.bootCount === b.bootCount &&
    a.firmware === b.firmware
  );
}
