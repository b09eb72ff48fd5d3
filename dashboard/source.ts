/**
 * One hub database as the dashboard reads it (docs/ARCHITECTURE.md, "The dashboard"): a SQLite file
 * (sqlite-source.ts) or a PostgreSQL hub (pg-source.ts). The fleet index folds every source's rows
 * per device; the watcher asks each for what changed since its watermark, cheaply.
 */
import type { FleetRow, StateChange } from '../actors/hub/sqlite/index.ts';
import type { AuditJson, ResetJson } from './types.ts';

/** What appeared in a hub's audit log and device history since the last poll. */
export interface SourceChanges {
  /** Devices named by new audit rows (decisions, sweeps, operator changes). */
  readonly devices: ReadonlySet<string>;
  /** `at_ms` of new `ticket` and `refused` audit rows. */
  readonly tickets: readonly number[];
  readonly refusals: readonly number[];
  /** Resets the devices reported (device history, runtime reports with a reset reason). */
  readonly resets: ReadonlyArray<{ readonly atMs: number; readonly reason: string }>;
  /** More rows are waiting (the read was capped): poll again soon. */
  readonly more: boolean;
}

/** Per-minute tickets and refusals, and resets by reason, since an instant (for the charts at start). */
export interface SourceHistory {
  readonly tickets: ReadonlyArray<readonly [minuteStartMs: number, count: number]>;
  readonly refusals: ReadonlyArray<readonly [minuteStartMs: number, count: number]>;
  readonly resets: ReadonlyArray<{ readonly atMs: number; readonly reason: string }>;
}

export interface SourceDetail {
  readonly rows: readonly FleetRow[];
  readonly resets: readonly ResetJson[];
  readonly audit: readonly AuditJson[];
}

/** require-update's two forms, as the CLI takes them. */
export type UpdateAction =
  | { readonly kind: 'require'; readonly instance: string; readonly release: number; readonly board?: string }
  | { readonly kind: 'clear'; readonly instance?: string };

export interface HubSource {
  label: string;
  readonly store: 'sqlite' | 'postgres';
  /** Every enrolled (device, instance) row, grouped by device. */
  scan(nowMs: number, each: (row: FleetRow) => void): Promise<void>;
  /** The rows of these devices (absent ones: none). */
  rowsOf(deviceIds: readonly string[], nowMs: number): Promise<FleetRow[]>;
  detail(deviceId: string, nowMs: number): Promise<SourceDetail>;
  /** Sets the watermarks to the present; returns the last hour's rates and day's resets. */
  start(sinceMs: number, resetsSinceMs: number): Promise<SourceHistory>;
  /** What changed since the last call (or start). */
  poll(): Promise<SourceChanges>;
  /** Whether the device is enrolled here, and which instances. */
  instancesOf(deviceId: string): Promise<readonly string[]>;
  changeState(deviceId: string, change: StateChange, reason: string | undefined): Promise<void>;
  /** `dominion require-update`'s store functions; an unpublished release is a HubStoreError `refused`. */
  update(deviceId: string, action: UpdateAction): Promise<void>;
  close(): Promise<void>;
}

/** Scans the audit log back at most this many rows for one device's trail (no index by device: fleet.ts). */
export const AUDIT_LOOKBACK_ROWS = 2_000_000;
/** Audit rows read per poll at most; a backlog drains over the next polls. */
export const POLL_ROWS = 20_000;
