/**
 * A SQLite hub database as a dashboard source. Read queries never take the write lock; actions go
 * through the same functions as the CLI (admin.ts), so they are audited exactly as it audits them.
 * Change detection: `PRAGMA data_version` (moves when another connection commits; free to ask), then
 * the audit rows and device-history rows past the watermarks, by primary key.
 */
import { basename } from 'node:path';
import {
  changeDeviceState,
  clearInstanceUpdate,
  fleetView,
  openHubDatabase,
  readAudit,
  readHistory,
  releaseTarget,
  requireInstanceUpdate,
  checkIntegrity,
  readHubIdentity,
  corruptDatabaseError,
  type SqliteDatabase,
  type StateChange,
  type FleetRow,
} from '../actors/hub/sqlite/index.ts';
import { fleetRowsOf, type FleetSourceRow } from '../actors/hub/sqlite/fleet.ts';
import { parseInstance } from '../proto/index.ts';
import {
  AUDIT_LOOKBACK_ROWS,
  POLL_ROWS,
  type HubSource,
  type SourceChanges,
  type SourceDetail,
  type SourceHistory,
  type UpdateAction,
} from './source.ts';
import { resetsOf } from './resets.ts';
import { auditJson } from './types.ts';

/** fleetView's query, with the device history read for the device instance only (the table's columns). */
const SCAN_SQL = `
  SELECT d.device_id, d.state AS device_state, d.state_reason, k.instance,
         a.last_request_at_ms, a.last_reason, a.last_ticket_at_ms, a.last_deferral_ms, a.deadline_ms, a.state, a.expired,
         NULL AS slots, NULL AS recovery, b.at_ms AS boot_at_ms, b.boot_count, b.outcome AS boot_outcome, b.reason AS boot_reason,
         NULL AS boot_images,
         CASE WHEN k.instance = 'device' THEN (SELECT h.boot_count FROM device_history h WHERE h.device_id = k.device_id
           AND h.instance = 'device' AND h.boot_count IS NOT NULL ORDER BY h.seq DESC LIMIT 1) END AS rep_boot_count,
         NULL AS rep_reset_reason,
         CASE WHEN k.instance = 'device' THEN (SELECT h.firmware_version FROM device_history h WHERE h.device_id = k.device_id
           AND h.instance = 'device' AND h.firmware_version IS NOT NULL ORDER BY h.seq DESC LIMIT 1) END AS rep_firmware,
         NULL AS refused_count, NULL AS refused_at_ms, NULL AS refused_reason
  FROM device d JOIN device_key k ON k.device_id = d.device_id
  LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
  LEFT JOIN device_boot b ON b.device_id = d.device_id AND k.instance = 'device'`;
const ORDER = ' ORDER BY d.device_id, k.instance';
/** Devices read again per query (a JSON array of ids, walked through the primary key). */
const CHUNK = 2000;

export class SqliteSource implements HubSource {
  readonly store = 'sqlite' as const;
  private auditSeq = 0;
  private historySeq = 0;
  private dataVersion = -1;
  /** Our own writes (actions) do not move data_version on this connection. */
  private dirty = true;

  /** What the watcher asks every poll, prepared once. */
  private readonly statements;

  private constructor(
    public label: string,
    readonly db: SqliteDatabase,
  ) {
    this.statements = {
      rowsOf: db.prepare(`${SCAN_SQL} WHERE d.device_id IN (SELECT value FROM json_each(?))${ORDER}`),
      maxAuditSeq: db.prepare('SELECT max(seq) FROM audit').pluck(),
      auditAfter: db.prepare('SELECT seq, at_ms, outcome, device_id FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').raw(),
      historyAfter: db
        .prepare('SELECT seq, at_ms, instance, source, reset_reason FROM device_history WHERE seq > ? ORDER BY seq LIMIT ?')
        .raw(),
      instancesOf: db.prepare('SELECT instance FROM device_key WHERE device_id = ? ORDER BY instance').pluck(),
    };
  }

  /**
   * Opens an existing hub database and checks it (PRAGMA quick_check): a missing, foreign or damaged
   * file fails here, at start, with the store's one-line message.
   */
  static open(path: string, integrityCheck = true): SqliteSource {
    const db = openHubDatabase(path, { create: false });
    try {
      // 2 MiB of page cache, not the hub's 64: the dashboard reads few pages after its start-up scan.
      db.pragma('cache_size = -2048');
      if (integrityCheck) {
        const report = checkIntegrity(db, 'quick', path);
        if (!report.ok) throw corruptDatabaseError(path, report);
      }
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteSource(readHubIdentity(db)?.hubId ?? basename(path), db);
  }

  async scan(nowMs: number, each: (row: FleetRow) => void): Promise<void> {
    for (const r of this.db.prepare(SCAN_SQL + ORDER).iterate() as IterableIterator<FleetSourceRow>) each(fleetRowsOf([r], nowMs)[0]!);
  }

  async rowsOf(deviceIds: readonly string[], nowMs: number): Promise<FleetRow[]> {
    const stmt = this.statements.rowsOf;
    const out: FleetRow[] = [];
    for (let i = 0; i < deviceIds.length; i += CHUNK) {
      const rows = stmt.all(JSON.stringify(deviceIds.slice(i, i + CHUNK))) as FleetSourceRow[];
      for (const r of rows) out.push(fleetRowsOf([r], nowMs)[0]!);
    }
    return out;
  }

  async detail(deviceId: string, nowMs: number): Promise<SourceDetail> {
    const rows = fleetView(this.db, nowMs, deviceId);
    if (rows.length === 0) return { rows, resets: [], audit: [] };
    const maxSeq = (this.statements.maxAuditSeq.get() as number | null) ?? 0;
    const audit = readAudit(this.db, { deviceId, limit: 100, afterSeq: Math.max(0, maxSeq - AUDIT_LOOKBACK_ROWS) })
      .reverse()
      .map((e) => auditJson(e, this.label));
    return { rows, resets: resetsOf(readHistory(this.db, { deviceId })), audit };
  }

  async start(sinceMs: number, resetsSinceMs: number): Promise<SourceHistory> {
    this.auditSeq = (this.statements.maxAuditSeq.get() as number | null) ?? 0;
    this.historySeq = (this.db.prepare('SELECT max(seq) FROM device_history').pluck().get() as number | null) ?? 0;
    this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
    this.dirty = false;
    // audit_at (migration 6) serves the range; one hour of rows, counted by the database.
    const perMinute = this.db
      .prepare(
        `SELECT (at_ms / 60000) * 60000 AS minute, outcome, count(*) AS n FROM audit
         WHERE at_ms >= ? AND seq <= ? AND outcome IN ('ticket', 'refused') GROUP BY minute, outcome`,
      )
      .all(sinceMs, this.auditSeq) as Array<{ minute: number; outcome: string; n: number }>;
    const resets = this.db
      .prepare(
        `SELECT at_ms AS atMs, reset_reason AS reason FROM device_history
         WHERE instance = 'device' AND source = 'runtime' AND reset_reason IS NOT NULL AND at_ms >= ? AND seq <= ?`,
      )
      .all(resetsSinceMs, this.historySeq) as Array<{ atMs: number; reason: string }>;
    return {
      tickets: perMinute.filter((r) => r.outcome === 'ticket').map((r) => [r.minute, r.n] as const),
      refusals: perMinute.filter((r) => r.outcome === 'refused').map((r) => [r.minute, r.n] as const),
      resets,
    };
  }

  async poll(): Promise<SourceChanges> {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.dataVersion && !this.dirty) return { devices: new Set(), tickets: [], refusals: [], resets: [], more: false };
    this.dataVersion = version;
    this.dirty = false;
    const rows = this.statements.auditAfter.all(this.auditSeq, POLL_ROWS) as Array<[number, number, string, string | null]>;
    const devices = new Set<string>();
    const tickets: number[] = [];
    const refusals: number[] = [];
    for (const [seq, atMs, outcome, deviceId] of rows) {
      this.auditSeq = seq;
      if (deviceId !== null) devices.add(deviceId);
      if (outcome === 'ticket') tickets.push(atMs);
      else if (outcome === 'refused') refusals.push(atMs);
    }
    const history = this.statements.historyAfter.all(this.historySeq, POLL_ROWS) as Array<[number, number, string, string, string | null]>;
    const resets: Array<{ atMs: number; reason: string }> = [];
    for (const [seq, atMs, instance, source, reason] of history) {
      this.historySeq = seq;
      if (instance === 'device' && source === 'runtime' && reason !== null) resets.push({ atMs, reason });
    }
    const more = rows.length === POLL_ROWS || history.length === POLL_ROWS;
    if (more) this.dirty = true;
    return { devices, tickets, refusals, resets, more };
  }

  async instancesOf(deviceId: string): Promise<readonly string[]> {
    return this.statements.instancesOf.all(deviceId) as string[];
  }

  async changeState(deviceId: string, change: StateChange, reason: string | undefined): Promise<void> {
    this.dirty = true;
    changeDeviceState(this.db, deviceId, change, reason);
  }

  async update(deviceId: string, action: UpdateAction): Promise<void> {
    this.dirty = true;
    if (action.kind === 'clear') {
      clearInstanceUpdate(this.db, deviceId, action.instance === undefined ? undefined : parseInstance(action.instance));
      return;
    }
    const instance = parseInstance(action.instance);
    requireInstanceUpdate(this.db, deviceId, instance, releaseTarget(this.db, instance, action.release, action.board));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
