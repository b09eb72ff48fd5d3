/**
 * What `dominion devices` shows and tests read back: one row per enrolled (device, instance) with
 * its last request, last ticket, deadline, state and reason, and the images it runs (version, slot,
 * update state); and the audit log, newest last. Read-only queries; they never take the write lock.
 */
import type { AuditEntry, AuditOutcome } from '../audit.ts';
import { labelsOfInstance } from '../releases.ts';
import { parseAuditReason } from '../reasons.ts';
import type { DeviceState } from '../registry.ts';
import type { UpdateStateName } from '../runtime-record.ts';
import type { SqliteDatabase } from './database.ts';
import type { DeviceRefusals } from './refusals.ts';

/** One image an instance runs, as last reported. */
export interface FleetImage {
  readonly label: string;
  readonly version?: number;
  /** `a` or `b`; from slot reports only. */
  readonly slot?: string;
  readonly update?: UpdateStateName;
  readonly updateVersion?: number;
  readonly detail?: string;
  /** Hex SHA-512 of the bundle; from a boot request only. */
  readonly digest?: string;
  /** `slots`: the instance's latest ticket request; `boot`: the device's latest boot request. */
  readonly source: 'slots' | 'boot';
}

export interface FleetRow {
  readonly deviceId: string;
  readonly deviceState: DeviceState;
  readonly instance: string;
  readonly lastRequestAtMs?: number;
  readonly lastTicketAtMs?: number;
  readonly lastDeferralMs?: number;
  /** Last ticket + its deferral: when the instance's AWDT fires without another ticket. */
  readonly deadlineMs?: number;
  /**
   * `ok`, `fail`, `withheld`, `update-required`, `timeout`, or `never` (enrolled, never asked).
   * A deadline that passed but is not swept yet reads `timeout`/`fail` already.
   */
  readonly state: string;
  /**
   * Display text: the last decision's reason, `silent`, or for a quarantined/revoked device the
   * operator's own words (free text, hence not a DecisionReason).
   */
  readonly reason?: string;
  /**
   * The images the instance runs (`device`: sw and hypervisor), from its latest ticket request's slot
   * reports, else (`device`, `mm`) from the device's latest boot request.
   */
  readonly images?: readonly FleetImage[];
  /** `device` only: its latest request said it runs in recovery mode (no boot ticket yet). */
  readonly recovery?: boolean;
  /** `device` only: the device's latest boot request and the IH's answer. */
  readonly boot?: { readonly atMs: number; readonly count?: number; readonly outcome: string; readonly reason: string };
  /**
   * The latest of each value the instance reported of its boots (the device history, history.ts):
   * `device` — boot count, reset reason (ResetReason by name) and firmware; `mm`, `sm:<service>` —
   * the domain's boots since the device booted.
   */
  readonly reported?: { readonly bootCount?: number; readonly resetReason?: string; readonly firmwareVersion?: string };
  /**
   * Requests this hub refused that named the device (refusals.ts); on the device's first row of
   * this database only, and only when there were any.
   */
  readonly refused?: DeviceRefusals;
}

/** One (device, instance) row as the fleet queries read it (SQLite here, PostgreSQL in postgres/fleet.ts). */
export interface FleetSourceRow {
  device_id: string;
  device_state: DeviceState;
  state_reason: string | null;
  instance: string;
  last_request_at_ms: number | null;
  last_reason: string | null;
  last_ticket_at_ms: number | null;
  last_deferral_ms: number | null;
  deadline_ms: number | null;
  state: string | null;
  expired: number | null;
  slots: string | null;
  recovery: number | null;
  boot_at_ms: number | null;
  boot_count: number | null;
  boot_outcome: string | null;
  boot_reason: string | null;
  boot_images: string | null;
  rep_boot_count: number | null;
  rep_reset_reason: string | null;
  rep_firmware: string | null;
  refused_count: number | null;
  refused_at_ms: number | null;
  refused_reason: string | null;
}

/** The latest non-null value of a history column for the row's (device, instance): ≤ HISTORY_KEEP rows, by index. */
export const latestReported = (column: string, as: string): string =>
  `(SELECT h.${column} FROM device_history h WHERE h.device_id = k.device_id AND h.instance = k.instance AND h.${column} IS NOT NULL
     ORDER BY h.seq DESC LIMIT 1) AS ${as}`;

export function fleetView(db: SqliteDatabase, nowMs: number, deviceId?: string): FleetRow[] {
  const rows = db
    .prepare(
      `SELECT d.device_id, d.state AS device_state, d.state_reason, k.instance,
              a.last_request_at_ms, a.last_reason, a.last_ticket_at_ms, a.last_deferral_ms, a.deadline_ms, a.state, a.expired,
              a.slots, a.recovery, b.at_ms AS boot_at_ms, b.boot_count, b.outcome AS boot_outcome, b.reason AS boot_reason,
              b.images AS boot_images, ${latestReported('boot_count', 'rep_boot_count')},
              ${latestReported('reset_reason', 'rep_reset_reason')}, ${latestReported('firmware_version', 'rep_firmware')},
              r.count AS refused_count, r.last_at_ms AS refused_at_ms, r.last_reason AS refused_reason
       FROM device d JOIN device_key k ON k.device_id = d.device_id
       LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
       LEFT JOIN device_boot b ON b.device_id = d.device_id
       LEFT JOIN device_refusal r ON r.device_id = d.device_id
       WHERE @device IS NULL OR d.device_id = @device
       ORDER BY d.device_id, k.instance`,
    )
    .all({ device: deviceId ?? null }) as FleetSourceRow[];
  return fleetRowsOf(rows, nowMs);
}

/** The rows `dominion devices` shows, from the query's rows (ordered by device, then instance). */
export function fleetRowsOf(rows: readonly FleetSourceRow[], nowMs: number): FleetRow[] {
  return rows.map((r, i) => {
    let state = r.state ?? (r.last_request_at_ms === null ? 'never' : 'unknown');
    if (r.deadline_ms !== null && r.deadline_ms < nowMs && r.expired === 0) {
      const silent = r.last_request_at_ms === null || r.last_ticket_at_ms === null || r.last_request_at_ms <= r.last_ticket_at_ms;
      state = silent ? 'timeout' : state === 'ok' ? 'fail' : state;
    }
    const reason = r.device_state !== 'active' ? (r.state_reason ?? r.device_state) : state === 'timeout' ? 'silent' : r.last_reason;
    const images = imagesOf(r);
    const isDevice = r.instance === 'device';
    const reported = {
      ...(r.rep_boot_count !== null ? { bootCount: r.rep_boot_count } : {}),
      ...(r.rep_reset_reason !== null ? { resetReason: r.rep_reset_reason } : {}),
      ...(r.rep_firmware !== null ? { firmwareVersion: r.rep_firmware } : {}),
    };
    const firstOfDevice = i === 0 || rows[i - 1]!.device_id !== r.device_id;
    return {
      deviceId: r.device_id,
      deviceState: r.device_state,
      instance: r.instance,
      ...(r.last_request_at_ms !== null ? { lastRequestAtMs: r.last_request_at_ms } : {}),
      ...(r.last_ticket_at_ms !== null ? { lastTicketAtMs: r.last_ticket_at_ms } : {}),
      ...(r.last_deferral_ms !== null ? { lastDeferralMs: r.last_deferral_ms } : {}),
      ...(r.deadline_ms !== null ? { deadlineMs: r.deadline_ms } : {}),
      state,
      ...(reason !== null && reason !== undefined ? { reason } : {}),
      ...(images.length > 0 ? { images } : {}),
      ...(isDevice && r.recovery !== null ? { recovery: r.recovery === 1 } : {}),
      ...(isDevice && r.boot_at_ms !== null
        ? {
            boot: {
              atMs: r.boot_at_ms,
              ...(r.boot_count !== null ? { count: r.boot_count } : {}),
              outcome: r.boot_outcome ?? '',
              reason: r.boot_reason ?? '',
            },
          }
        : {}),
      ...(Object.keys(reported).length > 0 ? { reported } : {}),
      ...(firstOfDevice && r.refused_count !== null
        ? { refused: { count: r.refused_count, lastAtMs: r.refused_at_ms ?? 0, lastReason: r.refused_reason ?? '' } }
        : {}),
    };
  });
}

/** The instance's images: its slot reports if it sent any, else what the device's boot reported for its labels. */
function imagesOf(r: FleetSourceRow): FleetImage[] {
  const slots = jsonArray(r.slots).flatMap((e) => {
    if (typeof e.label !== 'string') return [];
    return [
      {
        label: e.label,
        ...(typeof e.version === 'number' ? { version: e.version } : {}),
        ...(typeof e.slot === 'string' ? { slot: e.slot } : {}),
        ...(typeof e.update === 'string' ? { update: e.update as UpdateStateName } : {}),
        ...(typeof e.updateVersion === 'number' ? { updateVersion: e.updateVersion } : {}),
        ...(typeof e.detail === 'string' ? { detail: e.detail } : {}),
        source: 'slots' as const,
      },
    ];
  });
  if (slots.length > 0) return slots;
  const labels = labelsOfInstance(r.instance);
  return jsonArray(r.boot_images).flatMap((e) =>
    typeof e.label === 'string' && labels.includes(e.label)
      ? [
          {
            label: e.label,
            ...(typeof e.version === 'number' ? { version: e.version } : {}),
            ...(typeof e.digest === 'string' ? { digest: e.digest } : {}),
            source: 'boot' as const,
          },
        ]
      : [],
  );
}

/** Stored JSON (written by journal.ts), read defensively: anything unexpected reads as nothing. */
function jsonArray(text: string | null): Array<Record<string, unknown>> {
  if (text === null) return [];
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null) : [];
  } catch {
    return [];
  }
}

export interface StoredAuditEntry extends AuditEntry {
  readonly seq: number;
  /** The stored text when `reason` is `unknown` (written by a hub version this one does not know). */
  readonly storedReason?: string;
  /** The hub that decided; absent for operator commands. */
  readonly hubId?: string;
}

export interface AuditQuery {
  readonly deviceId?: string;
  /** Only entries after this sequence number. */
  readonly afterSeq?: number;
  /** The newest `limit` entries (default: all). */
  readonly limit?: number;
  /** Only entries with one of these outcomes (default: all). */
  readonly outcomes?: readonly string[];
  /** Only entries at or after this instant (ms since the epoch). */
  readonly sinceMs?: number;
  /** Only entries before this instant (ms since the epoch). */
  readonly untilMs?: number;
}

/** One audit row as stored (SQLite here, PostgreSQL in postgres/fleet.ts). */
export interface AuditRow {
  seq: number;
  at_ms: number;
  hub_id: string | null;
  outcome: AuditOutcome;
  reason: string;
  detail: string | null;
  device_id: string | null;
  instance: string | null;
  deferral_ms: number | null;
  ref: string | null;
}

/** Audit entries, oldest first. */
export function readAudit(db: SqliteDatabase, query: AuditQuery = {}): StoredAuditEntry[] {
  // The time range only when asked: it makes SQLite walk the audit_at index (migration 6), which
  // without a range would scan the whole log where "the newest n" walks seq backwards and stops.
  const range = [
    ...(query.sinceMs !== undefined ? ['AND at_ms >= @since'] : []),
    ...(query.untilMs !== undefined ? ['AND at_ms < @until'] : []),
  ].join(' ');
  const rows = db
    .prepare(
      `SELECT * FROM (
         SELECT seq, at_ms, hub_id, outcome, reason, detail, device_id, instance, deferral_ms, ref FROM audit
         WHERE (@device IS NULL OR device_id = @device) AND seq > @after ${range}
           AND (@outcomes IS NULL OR outcome IN (SELECT value FROM json_each(@outcomes)))
         ORDER BY seq DESC LIMIT @limit
       ) ORDER BY seq`,
    )
    .all({
      device: query.deviceId ?? null,
      after: query.afterSeq ?? 0,
      limit: query.limit ?? -1,
      ...(query.sinceMs !== undefined ? { since: query.sinceMs } : {}),
      ...(query.untilMs !== undefined ? { until: query.untilMs } : {}),
      outcomes: query.outcomes !== undefined ? JSON.stringify(query.outcomes) : null,
    }) as AuditRow[];
  return rows.map((r) => auditEntryOf(r));
}

/** One stored row; reason text this version does not know reads as `unknown`, kept in `storedReason`. */
export function auditEntryOf(r: AuditRow): StoredAuditEntry {
  const reason = parseAuditReason(r.reason);
  return {
    seq: r.seq,
    atMs: r.at_ms,
    outcome: r.outcome,
    reason,
    ...(reason === 'unknown' ? { storedReason: r.reason } : {}),
    ...(r.hub_id !== null ? { hubId: r.hub_id } : {}),
    ...(r.detail !== null ? { detail: r.detail } : {}),
    ...(r.device_id !== null ? { deviceId: r.device_id } : {}),
    ...(r.instance !== null ? { instance: r.instance } : {}),
    ...(r.deferral_ms !== null ? { deferralMs: r.deferral_ms } : {}),
    ...(r.ref !== null ? { ref: r.ref } : {}),
  };
}
