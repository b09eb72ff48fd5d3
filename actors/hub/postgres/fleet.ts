/**
 * What `dominion devices`, `dominion audit` and `dominion hub` read from a PostgreSQL hub database:
 * the counterparts of sqlite/fleet.ts and sqlite/admin.ts `policyGaps`, with the same output shape
 * (the rows go through the same mapping). The reported columns come from the device history
 * (pg-history.ts) and the refusal counts from `device_refusal` (refusals.ts), as on SQLite.
 */
import type { Instance } from '../../../proto/index.ts';
import type { MemoryPolicyRules } from '../policy.ts';
import type { PolicyGap } from '../sqlite/admin.ts';
import {
  auditEntryOf,
  fleetRowsOf,
  latestReported,
  type AuditQuery,
  type AuditRow,
  type FleetRow,
  type FleetSourceRow,
  type StoredAuditEntry,
} from '../sqlite/fleet.ts';
import { pgFleetPolicyText } from './admin.ts';
import type { PgQueryable } from './connect.ts';

export function pgFleetView(db: PgQueryable, nowMs: number, deviceId?: string): Promise<FleetRow[]> {
  return db
    .query<FleetSourceRow>(
      `SELECT d.device_id, d.state AS device_state, d.state_reason, k.instance,
              a.last_request_at_ms, a.last_reason, a.last_ticket_at_ms, a.last_deferral_ms, a.deadline_ms, a.state,
              a.expired::int AS expired, a.slots, a.recovery::int AS recovery,
              b.at_ms AS boot_at_ms, b.boot_count, b.outcome AS boot_outcome, b.reason AS boot_reason, b.images AS boot_images,
              ${latestReported('boot_count', 'rep_boot_count')}, ${latestReported('reset_reason', 'rep_reset_reason')},
              ${latestReported('firmware_version', 'rep_firmware')},
              r.count AS refused_count, r.last_at_ms AS refused_at_ms, r.last_reason AS refused_reason
       FROM device d JOIN device_key k ON k.device_id = d.device_id
       LEFT JOIN device_refusal r ON r.device_id = d.device_id
       LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
       LEFT JOIN device_boot b ON b.device_id = d.device_id
       WHERE $1::text IS NULL OR d.device_id = $1
       ORDER BY d.device_id COLLATE "C", k.instance COLLATE "C"`,
      [deviceId ?? null],
    )
    .then((r) => fleetRowsOf(r.rows, nowMs));
}

/** Audit entries, oldest first (the newest `limit` of those matching). */
export async function pgReadAudit(db: PgQueryable, query: AuditQuery = {}): Promise<StoredAuditEntry[]> {
  const r = await db.query<AuditRow>(
    `SELECT * FROM (
       SELECT seq, at_ms, hub_id, outcome, reason, detail, device_id, instance, deferral_ms, ref FROM audit
       WHERE ($1::text IS NULL OR device_id = $1) AND seq > $2
         AND ($3::bigint IS NULL OR at_ms >= $3) AND ($4::bigint IS NULL OR at_ms < $4)
         AND ($5::text[] IS NULL OR outcome = ANY ($5))
       ORDER BY seq DESC LIMIT $6
     ) newest ORDER BY seq`,
    [
      query.deviceId ?? null,
      query.afterSeq ?? 0,
      query.sinceMs ?? null,
      query.untilMs ?? null,
      query.outcomes !== undefined ? [...query.outcomes] : null,
      query.limit ?? null,
    ],
  );
  return r.rows.map((row) => auditEntryOf(row));
}

/** Instances without a fleet rule or default, and how many devices that leaves without a policy (sqlite/admin.ts policyGaps). */
export async function pgPolicyGaps(db: PgQueryable, instances: readonly Instance[]): Promise<PolicyGap[]> {
  const text = await pgFleetPolicyText(db);
  const fleet = text === undefined ? undefined : (JSON.parse(text) as MemoryPolicyRules);
  const uncovered = instances.filter((i) => fleet?.default === undefined && fleet?.instances?.[i] === undefined);
  if (uncovered.length === 0) return [];
  const r = await db.query<{ n: number }>("SELECT count(*)::bigint AS n FROM device WHERE policy IS NULL AND state != 'revoked'");
  const devicesWithoutPolicy = r.rows[0]?.n ?? 0;
  return uncovered.map((instance) => ({ instance, devicesWithoutPolicy }));
}
