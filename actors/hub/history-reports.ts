/**
 * The device history's store-independent half (docs/ARCHITECTURE.md §7): what a decision's effects
 * report of a boot, as the values a history row stores, and when a report is a change. The stores
 * (sqlite/history.ts, postgres/pg-history.ts) write and read the rows; both keep one row per change
 * of a (device, instance, source), never one per request, and the newest HISTORY_KEEP per
 * (device, instance).
 *
 * `HistoryMemory` holds the last report seen per key, in two bounded generations: what a transaction
 * staged enters it only once the transaction commits, so a rolled-back batch never hides a change.
 */
import type { ActivityEffect, BootRecord } from './effects.ts';
import { imagesText } from './runtime-record.ts';
import { Bounded } from './sqlite/config-cache.ts';

/** Rows kept per (device, instance). */
export const HISTORY_KEEP = 100;
/**
 * Reports remembered per generation. A report missing from memory costs a read of the table (and, on
 * PostgreSQL, takes the batch off its one-statement commit): a hub must remember one per instance and
 * source it serves, or at 100,000 devices every report misses (50,000 did: each key came back after
 * two generation swaps). About 350 bytes each (measured with 100,000), kept only for reports seen.
 */
export const HISTORY_MEMORY = 200_000;
/** Longest images text stored (40 validated labels with versions fit well below). */
const IMAGES_MAX = 4096;

export type HistorySource = 'boot-request' | 'runtime';

/** One history row: what one report said. */
export interface HistoryEntry {
  readonly seq: number;
  readonly deviceId: string;
  /** `device` (boot requests and DeviceState), `mm` or `sm:<service>` (their domain reports). */
  readonly instance: string;
  readonly atMs: number;
  readonly hubId?: string;
  readonly source: HistorySource;
  /** device: boots since provisioning; mm, sm:<service>: the domain's boots since the device booted. */
  readonly bootCount?: number;
  /** ResetReason by name (lower-kebab); runtime reports of the device only. */
  readonly resetReason?: string;
  readonly firmwareVersion?: string;
  /** `label version, …` */
  readonly images?: string;
}

export interface HistoryQuery {
  readonly deviceId: string;
  /** The newest `limit` rows (default: all). */
  readonly limit?: number;
}

/** The reported values, as the table's columns. */
export interface HistoryValues {
  readonly boot_count: number | null;
  readonly reset_reason: string | null;
  readonly firmware_version: string | null;
  readonly images: string | null;
}

/** One report, ready to compare and store. */
export interface HistoryReport {
  readonly deviceId: string;
  readonly instance: string;
  readonly atMs: number;
  readonly source: HistorySource;
  readonly values: HistoryValues;
  /** (device, instance, source): what a report is compared with the previous one of. */
  readonly key: string;
  readonly signature: string;
}

/** A history row as the stores read it. */
export interface HistoryRow extends HistoryValues {
  readonly seq: number;
  readonly device_id: string;
  readonly instance: string;
  readonly at_ms: number;
  readonly hub_id: string | null;
  readonly source: HistorySource;
}

export interface HistoryRecorderOptions {
  /** Rows kept per (device, instance); default HISTORY_KEEP. */
  readonly keep?: number;
  /** Last reports kept in memory (two generations of this many); default HISTORY_MEMORY. */
  readonly cacheSize?: number;
}

/** A boot request the IH answered (granted or withheld). */
export function bootReport(b: BootRecord): HistoryReport {
  return report(b.deviceId, 'device', b.atMs, 'boot-request', {
    boot_count: b.bootCount ?? null,
    reset_reason: null,
    firmware_version: b.firmwareVersion,
    images: imagesText(b.images).slice(0, IMAGES_MAX),
  });
}

/** A ticket request's runtime information (valid requests only); undefined when it reported no boot. */
export function activityReport(a: ActivityEffect): HistoryReport | undefined {
  const r = a.runtime;
  if (r?.boot === undefined) return undefined;
  return report(a.deviceId, a.instance, a.atMs, 'runtime', {
    boot_count: r.boot.bootCount ?? null,
    reset_reason: r.boot.resetReason ?? null,
    firmware_version: r.boot.firmwareVersion ?? null,
    images: r.slots.length > 0 ? imagesText(r.slots).slice(0, IMAGES_MAX) : null,
  });
}

/** A batch's reports, in the order the devices made them. */
export function* reportsOf(batch: Iterable<{ readonly boot?: BootRecord; readonly activity?: ActivityEffect }>): Iterable<HistoryReport> {
  for (const { boot, activity } of batch) {
    if (boot !== undefined) yield bootReport(boot);
    const a = activity !== undefined ? activityReport(activity) : undefined;
    if (a !== undefined) yield a;
  }
}

export function historyKey(deviceId: string, instance: string, source: string): string {
  return `${deviceId}\u0000${instance}\u0000${source}`;
}

/** Equal for equal reported values. */
export function signatureOf(v: HistoryValues): string {
  return JSON.stringify([v.boot_count, v.reset_reason, v.firmware_version, v.images]);
}

export function historyEntryOf(r: HistoryRow): HistoryEntry {
  return {
    seq: r.seq,
    deviceId: r.device_id,
    instance: r.instance,
    atMs: r.at_ms,
    ...(r.hub_id !== null ? { hubId: r.hub_id } : {}),
    source: r.source,
    ...(r.boot_count !== null ? { bootCount: r.boot_count } : {}),
    ...(r.reset_reason !== null ? { resetReason: r.reset_reason } : {}),
    ...(r.firmware_version !== null ? { firmwareVersion: r.firmware_version } : {}),
    ...(r.images !== null ? { images: r.images } : {}),
  };
}

/** The last report seen per key: committed ones, and the open transaction's (staged). */
export class HistoryMemory {
  private readonly lastSeen: Bounded<string>;
  private staged = new Map<string, string>();

  constructor(cacheSize = HISTORY_MEMORY) {
    this.lastSeen = new Bounded(cacheSize);
  }

  /** The signature last seen for `key`, staged or committed; undefined when new to this process. */
  last(key: string): string | undefined {
    return this.staged.get(key) ?? this.lastSeen.get(key);
  }

  stage(key: string, signature: string): void {
    this.staged.set(key, signature);
  }

  /** The transaction ended: committed reports are remembered; a rollback forgets them. */
  settled(committed: boolean): void {
    if (committed) for (const [key, signature] of this.staged) this.lastSeen.set(key, signature);
    this.staged = new Map();
  }
}

function report(deviceId: string, instance: string, atMs: number, source: HistorySource, values: HistoryValues): HistoryReport {
  return { deviceId, instance, atMs, source, values, key: historyKey(deviceId, instance, source), signature: signatureOf(values) };
}
