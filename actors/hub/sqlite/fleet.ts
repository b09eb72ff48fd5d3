/**
 * What `dominion devices` shows and tests read back: one row per enrolled (device, instance) with
 * its last request, last ticket, deadline, state and reason; and the audit log, newest last.
 * Read-only queries; they never take the write lock.
 */
import type { AuditEntry, AuditOutcome } from '../audit.ts';
import { parseAuditReason } from '../reasons.ts';
import type { DeviceState } from '../registry.ts';
import type { SqliteDatabase } from './database.ts';

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
}

interface Row {
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
}

export function fleetView(db: SqliteDatabase, nowMs: number, deviceId?: string): FleetRow[] {
  const rows = db
    .prepare(
      `SELECT d.device_id, d.state AS device_state, d.state_reason, k.instance,
              a.last_request_at_ms, a.last_reason, a.last_ticket_at_ms, a.last_deferral_ms, a.deadline_ms, a.state, a.expired
       FROM device d JOIN device_key k ON k.device_id = d.device_id
       LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
       WHERE @device IS NULL OR d.device_id = @device
       ORDER BY d.device_id, k.instance`,
    )
    .all({ device: deviceId ?? null }) as Row[];
  return rows.map((r) => {
    let state = r.state ?? (r.last_request_at_ms === null ? 'never' : 'unknown');
    if (r.deadline_ms !== null && r.deadline_ms < nowMs && r.expired === 0) {
      const silent = r.last_request_at_ms === null || r.last_ticket_at_ms === null || r.last_request_at_ms <= r.last_ticket_at_ms;
      state = silent ? 'timeout' : state === 'ok' ? 'fail' : state;
    }
    const reason = r.device_state !== 'active' ? (r.state_reason ?? r.device_state) : state === 'timeout' ? 'silent' : r.last_reason;
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
    };
  });
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
}

interface AuditRow {
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
  const rows = db
    .prepare(
      `SELECT * FROM (
         SELECT seq, at_ms, hub_id, outcome, reason, detail, device_id, instance, deferral_ms, ref FROM audit
         WHERE (@device IS NULL OR device_id = @device) AND seq > @after ORDER BY seq DESC LIMIT @limit
       ) ORDER BY seq`,
    )
    .all({ device: query.deviceId ?? null, after: query.afterSeq ?? 0, limit: query.limit ?? -1 }) as AuditRow[];
  return rows.map((r) => auditEntryOf(r));
}

/** One stored row; reason text this version does not know reads as `unknown`, kept in `storedReason`. */
function auditEntryOf(r: AuditRow): StoredAuditEntry {
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
