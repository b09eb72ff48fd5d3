/**
 * The device history (docs/ARCHITECTURE.md §7, migration 7): what devices reported of their boots —
 * boot counts, reset reasons, firmware and image versions — one row when a report differs from the
 * previous one of the same (device, instance, source), never one per request.
 *
 * Written by the journal (journal.ts) in the batch's transaction, with the audit rows of the requests
 * the reports came from. A repeated report costs no SQL: the last report seen per (device, instance,
 * source) is kept in memory. Only a report new to this process — its first from that instance since
 * start, or a change — reads the table's latest row inside the transaction, so a second hub process
 * on the same database, or a restart, never records one boot twice. What a transaction staged enters
 * the memory only once it commits.
 *
 * Bounded: after a batch, each (device, instance) that got rows keeps only its newest `keep`, in the
 * same transaction; a device reporting a new boot at every request replaces its own rows and nobody
 * else's. Reported values are exact numbers or nothing (runtime-record.ts) and bounded strings
 * (validated before the decision), so a hostile report can neither grow the table nor fail a commit.
 */
import type { ActivityEffect, BootRecord } from '../effects.ts';
import { imagesText } from '../runtime-record.ts';
import { Bounded } from './config-cache.ts';
import type { SqliteDatabase } from './database.ts';

/** Rows kept per (device, instance). */
export const HISTORY_KEEP = 100;
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

interface Report {
  readonly boot_count: number | null;
  readonly reset_reason: string | null;
  readonly firmware_version: string | null;
  readonly images: string | null;
}

export interface HistoryRecorderOptions {
  /** Rows kept per (device, instance); default HISTORY_KEEP. */
  readonly keep?: number;
  /** Last reports kept in memory (two generations of this many); default 50 000. */
  readonly cacheSize?: number;
}

export class HistoryRecorder {
  private readonly keep: number;
  private readonly lastSeen: Bounded<string>;
  /** Reports of the open transaction: they enter `lastSeen` when it commits. */
  private staged = new Map<string, string>();
  /** (device, instance) pairs that got rows in the open transaction, to trim. */
  private touched = new Map<string, readonly [string, string]>();
  private readonly latest;
  private readonly insert;
  private readonly trim;

  constructor(
    db: SqliteDatabase,
    private readonly hubId: string | null,
    options: HistoryRecorderOptions = {},
  ) {
    this.keep = options.keep ?? HISTORY_KEEP;
    this.lastSeen = new Bounded(options.cacheSize ?? 50_000);
    this.latest = db.prepare(
      `SELECT boot_count, reset_reason, firmware_version, images FROM device_history
       WHERE device_id = ? AND instance = ? AND source = ? ORDER BY seq DESC LIMIT 1`,
    );
    this.insert = db.prepare(
      `INSERT INTO device_history (device_id, instance, at_ms, hub_id, source, boot_count, reset_reason, firmware_version, images)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.trim = db.prepare(
      `DELETE FROM device_history WHERE device_id = @device AND instance = @instance AND seq <= (
         SELECT seq FROM device_history WHERE device_id = @device AND instance = @instance ORDER BY seq DESC LIMIT 1 OFFSET @keep)`,
    );
  }

  /** A boot request the IH answered (granted or withheld); returns the rows written (0 or 1). */
  boot(b: BootRecord): number {
    return this.report(b.deviceId, 'device', b.atMs, 'boot-request', {
      boot_count: b.bootCount ?? null,
      reset_reason: null,
      firmware_version: b.firmwareVersion,
      images: imagesText(b.images).slice(0, IMAGES_MAX),
    });
  }

  /** A ticket request's runtime information (valid requests only); returns the rows written (0 or 1). */
  activity(a: ActivityEffect): number {
    const r = a.runtime;
    if (r?.boot === undefined) return 0;
    return this.report(a.deviceId, a.instance, a.atMs, 'runtime', {
      boot_count: r.boot.bootCount ?? null,
      reset_reason: r.boot.resetReason ?? null,
      firmware_version: r.boot.firmwareVersion ?? null,
      images: r.slots.length > 0 ? imagesText(r.slots).slice(0, IMAGES_MAX) : null,
    });
  }

  /** Trims each (device, instance) that got rows to its newest `keep`; returns the rows deleted. */
  trimTouched(): number {
    let deleted = 0;
    for (const [device, instance] of this.touched.values()) deleted += this.trim.run({ device, instance, keep: this.keep }).changes;
    this.touched.clear();
    return deleted;
  }

  /** The transaction ended: committed reports are remembered; a rollback forgets them. */
  settled(committed: boolean): void {
    if (committed) for (const [key, signature] of this.staged) this.lastSeen.set(key, signature);
    this.staged = new Map();
    this.touched.clear();
  }

  private report(deviceId: string, instance: string, atMs: number, source: HistorySource, report: Report): number {
    const key = `${deviceId}\u0000${instance}\u0000${source}`;
    const seen = signature(report);
    if ((this.staged.get(key) ?? this.lastSeen.get(key)) === seen) return 0;
    this.staged.set(key, seen);
    const stored = this.latest.get(deviceId, instance, source) as Report | undefined;
    if (stored !== undefined && signature(stored) === seen) return 0;
    this.insert.run(
      deviceId,
      instance,
      atMs,
      this.hubId,
      source,
      report.boot_count,
      report.reset_reason,
      report.firmware_version,
      report.images,
    );
    this.touched.set(`${deviceId}\u0000${instance}`, [deviceId, instance]);
    return 1;
  }
}

function signature(r: Report): string {
  return JSON.stringify([r.boot_count, r.reset_reason, r.firmware_version, r.images]);
}

export interface HistoryQuery {
  readonly deviceId: string;
  /** The newest `limit` rows (default: all). */
  readonly limit?: number;
}

interface Row {
  seq: number;
  device_id: string;
  instance: string;
  at_ms: number;
  hub_id: string | null;
  source: HistorySource;
  boot_count: number | null;
  reset_reason: string | null;
  firmware_version: string | null;
  images: string | null;
}

/** A device's history, oldest first. Read-only. */
export function readHistory(db: SqliteDatabase, query: HistoryQuery): HistoryEntry[] {
  const rows = db
    .prepare(
      `SELECT * FROM (
         SELECT seq, device_id, instance, at_ms, hub_id, source, boot_count, reset_reason, firmware_version, images
         FROM device_history WHERE device_id = ? ORDER BY at_ms DESC, seq DESC LIMIT ?
       ) ORDER BY at_ms, seq`,
    )
    .all(query.deviceId, query.limit ?? -1) as Row[];
  return rows.map((r) => ({
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
  }));
}
