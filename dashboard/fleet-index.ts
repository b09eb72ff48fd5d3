/**
 * The fleet in memory, the device table's columns only (docs/ARCHITECTURE.md, "The dashboard"), so
 * paging, sorting, searching and counting 100,000 devices never touch the databases. Built by one
 * scan of each hub at start, then refreshed device by device from the rows that changed (the
 * watcher) and when a deadline that is still ahead passes (`due`).
 *
 * Stored by column (a slot per device: typed arrays for numbers, arrays of shared strings), not as
 * an object per device: 100,000 devices then cost ~13 MB of heap instead of ~40, which keeps the
 * process inside its memory budget (docs/DASHBOARD.md, "Memory").
 */
import type { FleetRow } from '../actors/hub/sqlite/index.ts';
import { DEVICE_STATES, DeviceFold, type DeviceListRow, type DeviceStateName, type InstanceStateName } from './types.ts';

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
const DEVICE_STATE_CODES = ['active', 'quarantined', 'revoked'] as const;
const INSTANCE_STATES: readonly InstanceStateName[] = ['NEVER', 'OK', 'UPDATE', 'WITHHELD', 'FAIL', 'TIMEOUT'];

/** One column of optional numbers: NaN stands for null. */
class NumberColumn {
  data = new Float64Array(1024);
  get(slot: number): number | null {
    const v = this.data[slot]!;
    return Number.isNaN(v) ? null : v;
  }
  set(slot: number, v: number | null): void {
    this.data[slot] = v ?? NaN;
  }
  grow(size: number): void {
    const next = new Float64Array(size);
    next.set(this.data);
    this.data = next;
  }
}

export class FleetIndex {
  /**
   * Slots by id while the start-up scan runs (hubs' rows of one device meet there); afterwards a
   * binary search of `byId` finds a slot, which saves the ~4 MB a map of 100,000 ids costs.
   */
  private loading: Map<string, number> | undefined = new Map();
  private readonly ids: string[] = [];
  /** Ids with capitals, lower-cased for search (the others are their own lower case). */
  private readonly lower = new Map<number, string>();
  private deviceState = new Uint8Array(1024);
  private worst = new Uint8Array(1024);
  private instances = new Uint16Array(1024);
  private sawDevice = new Uint8Array(1024);
  /** Reasons and firmware versions as numbers in `strings` (0: none): few distinct values, many devices. */
  private stateReason = new Uint32Array(1024);
  private worstReason = new Uint32Array(1024);
  private firmware = new Uint32Array(1024);
  private readonly strings: Array<string | null> = [null];
  private readonly stringIds = new Map<string, number>();
  private readonly lastRequest = new NumberColumn();
  private readonly nextDeadline = new NumberColumn();
  private readonly bootCount = new NumberColumn();
  /** When the device's state next changes by itself (a deadline ahead passes), or null. */
  private readonly flipAt = new NumberColumn();
  /** Slots in device-id (code unit) order: sort=id, and the base order every other sort keeps for ties. */
  private byId = new Int32Array(0);
  private version = 0;
  /** The last filtered-and-sorted slots per query shape, valid while `version` stands. */
  private cache = new Map<string, { version: number; slots: Int32Array }>();

  get size(): number {
    return this.ids.length;
  }

  /** Adds a device's fold, or folds it into what earlier hubs said of it (the start-up scan). */
  merge(fold: DeviceFold): void {
    const slot = this.slotOf(fold.deviceId);
    if (slot === undefined) return void this.write(this.newSlot(fold.deviceId), fold);
    const both = this.foldAt(slot);
    both.absorb(fold);
    this.write(slot, both);
  }

  /** Call once the start-up scan is done: orders the devices by id. */
  sealLoad(): void {
    this.byId = Int32Array.from(this.ids.map((_, slot) => slot).sort((a, b) => compareIds(this.ids[a]!, this.ids[b]!)));
    this.loading = undefined;
    this.version++;
    this.cache.clear();
  }

  /** Replaces these devices' records from their current rows (all hubs); returns the ids whose line changed. */
  refresh(deviceIds: Iterable<string>, rows: readonly FleetRow[], nowMs: number): string[] {
    const folds = foldRows(rows, nowMs);
    const changed: string[] = [];
    for (const id of deviceIds) {
      const fold = folds.get(id);
      if (fold === undefined) continue; // not enrolled (anymore): devices are never deleted, so keep what we had
      let slot = this.slotOf(id);
      const before = slot === undefined ? undefined : this.rowAt(slot);
      if (slot === undefined) {
        slot = this.newSlot(id);
        const at = insertionPoint(this.byId, this.ids, id);
        const byId = new Int32Array(this.byId.length + 1);
        byId.set(this.byId.subarray(0, at));
        byId[at] = slot;
        byId.set(this.byId.subarray(at), at + 1);
        this.byId = byId;
      }
      this.write(slot, fold);
      if (before === undefined || !sameRow(before, this.rowAt(slot))) changed.push(id);
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
    const flip = this.flipAt.data;
    for (let slot = 0; slot < this.ids.length && out.length < max; slot++) if (flip[slot]! <= nowMs) out.push(this.ids[slot]!); // NaN never is
    return out;
  }

  /** The index's own copy of a device id (so change logs share its strings), or the id as given. */
  canonical(deviceId: string): string {
    const slot = this.slotOf(deviceId);
    return slot === undefined ? deviceId : this.ids[slot]!;
  }

  get(deviceId: string): DeviceListRow | undefined {
    const slot = this.slotOf(deviceId);
    return slot === undefined ? undefined : this.rowAt(slot);
  }

  counts(): Record<DeviceStateName, number> {
    const counts = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<DeviceStateName, number>;
    for (let slot = 0; slot < this.ids.length; slot++) counts[this.stateAt(slot)]++;
    return counts;
  }

  page(query: DeviceQuery): DevicePage {
    const { offset, limit } = query;
    // The common first view, every device by id: no filtering or sorting at all.
    const slots = query.q === '' && query.state === '' && query.sort === 'id' ? undefined : this.sorted(query);
    const total = slots?.length ?? this.byId.length;
    const rows: DeviceListRow[] = [];
    for (let i = offset; i < Math.min(total, offset + limit); i++) {
      const slot = slots !== undefined ? slots[i]! : this.byId[query.dir === 'asc' ? i : total - 1 - i]!;
      rows.push(this.rowAt(slot));
    }
    return { total, offset, limit, rows };
  }

  private sorted(query: DeviceQuery): Int32Array {
    const key = `${query.q}\u0000${query.state}\u0000${query.sort}\u0000${query.dir}`;
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.version === this.version) return hit.slots;
    const q = query.q.toLowerCase();
    const picked: number[] = [];
    for (const slot of this.byId) {
      if (q !== '' && !(this.lower.get(slot) ?? this.ids[slot]!).includes(q)) continue;
      if (query.state !== '' && this.stateAt(slot) !== query.state) continue;
      picked.push(slot);
    }
    // picked is in id order, and Array.prototype.sort is stable: ties stay by id.
    const sign = query.dir === 'asc' ? 1 : -1;
    if (query.sort === 'state') {
      const order = new Uint8Array(this.ids.length);
      for (const slot of picked) order[slot] = STATE_ORDER[this.stateAt(slot)];
      picked.sort((a, b) => sign * (order[a]! - order[b]!));
    } else if (query.sort === 'lastRequest' || query.sort === 'deadline') {
      const column = (query.sort === 'lastRequest' ? this.lastRequest : this.nextDeadline).data;
      picked.sort((a, b) => nullsLast(column[a]!, column[b]!, sign));
    } else if (query.dir === 'desc') picked.reverse();
    const slots = Int32Array.from(picked);
    if (this.cache.size >= 8) this.cache.clear();
    this.cache.set(key, { version: this.version, slots });
    return slots;
  }

  private slotOf(deviceId: string): number | undefined {
    if (this.loading !== undefined) return this.loading.get(deviceId);
    const at = insertionPoint(this.byId, this.ids, deviceId);
    const slot = this.byId[at];
    return slot !== undefined && this.ids[slot] === deviceId ? slot : undefined;
  }

  private newSlot(deviceId: string): number {
    const slot = this.ids.length;
    if (slot >= this.deviceState.length) this.grow(this.deviceState.length * 2);
    this.loading?.set(deviceId, slot);
    this.ids.push(deviceId);
    const lower = deviceId.toLowerCase();
    if (lower !== deviceId) this.lower.set(slot, lower);
    return slot;
  }

  private grow(size: number): void {
    const grown = <T extends Uint8Array | Uint16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(a);
      return next;
    };
    this.deviceState = grown(this.deviceState, (n) => new Uint8Array(n));
    this.worst = grown(this.worst, (n) => new Uint8Array(n));
    this.sawDevice = grown(this.sawDevice, (n) => new Uint8Array(n));
    this.instances = grown(this.instances, (n) => new Uint16Array(n));
    this.stateReason = grown(this.stateReason, (n) => new Uint32Array(n));
    this.worstReason = grown(this.worstReason, (n) => new Uint32Array(n));
    this.firmware = grown(this.firmware, (n) => new Uint32Array(n));
    for (const c of [this.lastRequest, this.nextDeadline, this.bootCount, this.flipAt]) c.grow(size);
  }

  private write(slot: number, f: DeviceFold): void {
    this.deviceState[slot] = DEVICE_STATE_CODES.indexOf(f.deviceState);
    this.stateReason[slot] = this.intern(f.stateReason);
    this.worst[slot] = INSTANCE_STATES.indexOf(f.worst);
    this.worstReason[slot] = this.intern(f.worstReason);
    this.instances[slot] = Math.min(f.instances, 0xffff);
    this.sawDevice[slot] = f.sawDevice ? 1 : 0;
    this.lastRequest.set(slot, f.lastRequestAtMs);
    this.nextDeadline.set(slot, f.nextDeadlineMs);
    this.bootCount.set(slot, f.bootCount);
    this.firmware[slot] = this.intern(f.firmware);
    this.flipAt.set(slot, f.flipAtMs);
  }

  /** The slot as a fold again, to fold another hub's rows of the device into. */
  private foldAt(slot: number): DeviceFold {
    const f = new DeviceFold(this.ids[slot]!);
    f.deviceState = DEVICE_STATE_CODES[this.deviceState[slot]!]!;
    f.stateReason = this.strings[this.stateReason[slot]!]!;
    f.worst = INSTANCE_STATES[this.worst[slot]!]!;
    f.worstReason = this.strings[this.worstReason[slot]!]!;
    f.instances = this.instances[slot]!;
    f.sawDevice = this.sawDevice[slot] === 1;
    f.lastRequestAtMs = this.lastRequest.get(slot);
    f.nextDeadlineMs = this.nextDeadline.get(slot);
    f.bootCount = this.bootCount.get(slot);
    f.firmware = this.strings[this.firmware[slot]!]!;
    f.flipAtMs = this.flipAt.get(slot);
    return f;
  }

  private stateAt(slot: number): DeviceStateName {
    const device = this.deviceState[slot]!;
    return device === 2 ? 'REVOKED' : device === 1 ? 'QUARANTINED' : INSTANCE_STATES[this.worst[slot]!]!;
  }

  private rowAt(slot: number): DeviceListRow {
    return this.foldAt(slot).row();
  }

  /** The string's number in `strings` (kept for good: bounded by the distinct reasons and versions seen). */
  private intern(s: string | null): number {
    if (s === null) return 0;
    let id = this.stringIds.get(s);
    if (id === undefined) {
      id = this.strings.push(s) - 1;
      this.stringIds.set(s, id);
    }
    return id;
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

/** Where `id` goes in `order` (slots in id order). */
function insertionPoint(order: Int32Array, ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ids[order[mid]!]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** NaN (no value) sorts last in either direction. */
function nullsLast(a: number, b: number, sign: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
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
