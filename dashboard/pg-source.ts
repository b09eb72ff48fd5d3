/**
 * A PostgreSQL hub (docs/ARCHITECTURE.md §7.4) as a dashboard source. PostgreSQL keeps no device
 * history or refusal counts yet, so resets are empty and boot counts come from boot requests only.
 * Actions run `dominion quarantine|require-update --db postgres://…`'s own functions. Change
 * detection: the audit rows past the watermark, by primary key. Identity values commit out of order
 * under concurrent writers, so each poll re-reads a small window below the watermark and skips the
 * rows it has seen (start() marks the window's rows as seen: they are in the index already).
 */
import {
  describeUrl,
  openPool,
  pgChangeDeviceState,
  pgClearInstanceUpdate,
  pgFleetView,
  pgReadAudit,
  pgReleaseTarget,
  pgRequireInstanceUpdate,
  requirePgSchema,
  type PgPool,
} from '../actors/hub/postgres/index.ts';
import { fleetRowsOf, type FleetSourceRow } from '../actors/hub/sqlite/fleet.ts';
import type { FleetRow, StateChange } from '../actors/hub/sqlite/index.ts';
import {
  AUDIT_LOOKBACK_ROWS,
  POLL_ROWS,
  type HubSource,
  type SourceChanges,
  type SourceDetail,
  type SourceHistory,
  type UpdateAction,
} from './source.ts';
import { auditJson } from './types.ts';
import { parseInstance } from '../proto/index.ts';

const PAGE = 2000;
/** Audit rows re-read below the watermark (late commits of concurrent workers). */
const OVERLAP = 512;

const COLUMNS = `d.device_id, d.state AS device_state, d.state_reason, k.instance,
  a.last_request_at_ms, a.last_reason, a.last_ticket_at_ms, a.last_deferral_ms, a.deadline_ms, a.state,
  a.expired::int AS expired, NULL::text AS slots, NULL::int AS recovery,
  b.at_ms AS boot_at_ms, b.boot_count, b.outcome AS boot_outcome, b.reason AS boot_reason, NULL::text AS boot_images,
  NULL::bigint AS rep_boot_count, NULL::text AS rep_reset_reason, b.firmware_version AS rep_firmware,
  NULL::bigint AS refused_count, NULL::bigint AS refused_at_ms, NULL::text AS refused_reason`;

export class PgSource implements HubSource {
  readonly store = 'postgres' as const;
  private auditSeq = 0;
  private readonly seen = new Set<number>();

  private constructor(
    public label: string,
    private readonly pool: PgPool,
  ) {}

  static async open(url: string, onIdleError?: (err: Error) => void): Promise<PgSource> {
    const pool = await openPool({ url, max: 2 }, onIdleError);
    try {
      await requirePgSchema(pool, `PostgreSQL at ${describeUrl(url)}`);
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return new PgSource(`postgres://${describeUrl(url)}`, pool);
  }

  async scan(nowMs: number, each: (row: FleetRow) => void): Promise<void> {
    // Keyset pages of devices: never the whole fleet in one result.
    let after = '';
    for (;;) {
      const r = await this.pool.query<FleetSourceRow>(
        `WITH ids AS (SELECT device_id FROM device WHERE device_id COLLATE "C" > $1 ORDER BY device_id COLLATE "C" LIMIT $2)
         SELECT ${COLUMNS}
         FROM ids JOIN device d ON d.device_id = ids.device_id JOIN device_key k ON k.device_id = d.device_id
         LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
         LEFT JOIN device_boot b ON b.device_id = d.device_id AND k.instance = 'device'
         ORDER BY d.device_id COLLATE "C", k.instance COLLATE "C"`,
        [after, PAGE],
      );
      if (r.rows.length === 0) return;
      for (const row of r.rows) each(fleetRowsOf([row], nowMs)[0]!);
      after = r.rows[r.rows.length - 1]!.device_id;
    }
  }

  async rowsOf(deviceIds: readonly string[], nowMs: number): Promise<FleetRow[]> {
    const r = await this.pool.query<FleetSourceRow>(
      `SELECT ${COLUMNS}
       FROM device d JOIN device_key k ON k.device_id = d.device_id
       LEFT JOIN instance_activity a ON a.device_id = k.device_id AND a.instance = k.instance
       LEFT JOIN device_boot b ON b.device_id = d.device_id AND k.instance = 'device'
       WHERE d.device_id = ANY ($1::text[])
       ORDER BY d.device_id COLLATE "C", k.instance COLLATE "C"`,
      [[...deviceIds]],
    );
    return r.rows.map((row) => fleetRowsOf([row], nowMs)[0]!);
  }

  async detail(deviceId: string, nowMs: number): Promise<SourceDetail> {
    const rows = await pgFleetView(this.pool, nowMs, deviceId);
    if (rows.length === 0) return { rows, resets: [], audit: [] };
    const max = (await this.pool.query<{ s: number | null }>('SELECT max(seq) AS s FROM audit')).rows[0]?.s ?? 0;
    const audit = (await pgReadAudit(this.pool, { deviceId, limit: 100, afterSeq: Math.max(0, max - AUDIT_LOOKBACK_ROWS) }))
      .reverse()
      .map((e) => auditJson(e, this.label));
    return { rows, resets: [], audit };
  }

  async start(sinceMs: number): Promise<SourceHistory> {
    this.auditSeq = (await this.pool.query<{ s: number | null }>('SELECT max(seq) AS s FROM audit')).rows[0]?.s ?? 0;
    // The overlap window's committed rows are in the scan that follows: the first poll must not name them again.
    this.seen.clear();
    const window = await this.pool.query<{ seq: number }>('SELECT seq FROM audit WHERE seq > $1 AND seq <= $2', [
      Math.max(0, this.auditSeq - OVERLAP),
      this.auditSeq,
    ]);
    for (const row of window.rows) this.seen.add(row.seq);
    const r = await this.pool.query<{ minute: number; outcome: string; n: number }>(
      `SELECT (at_ms / 60000) * 60000 AS minute, outcome, count(*)::bigint AS n FROM audit
       WHERE at_ms >= $1 AND seq <= $2 AND outcome IN ('ticket', 'refused') GROUP BY 1, 2`,
      [sinceMs, this.auditSeq],
    );
    return {
      tickets: r.rows.filter((x) => x.outcome === 'ticket').map((x) => [x.minute, x.n] as const),
      refusals: r.rows.filter((x) => x.outcome === 'refused').map((x) => [x.minute, x.n] as const),
      resets: [],
    };
  }

  async poll(): Promise<SourceChanges> {
    const r = await this.pool.query<{ seq: number; at_ms: number; outcome: string; device_id: string | null }>(
      'SELECT seq, at_ms, outcome, device_id FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2',
      [Math.max(0, this.auditSeq - OVERLAP), POLL_ROWS],
    );
    const devices = new Set<string>();
    const tickets: number[] = [];
    const refusals: number[] = [];
    for (const row of r.rows) {
      if (row.seq <= this.auditSeq && this.seen.has(row.seq)) continue;
      this.seen.add(row.seq);
      if (row.seq > this.auditSeq) this.auditSeq = row.seq;
      if (row.device_id !== null) devices.add(row.device_id);
      if (row.outcome === 'ticket') tickets.push(row.at_ms);
      else if (row.outcome === 'refused') refusals.push(row.at_ms);
    }
    for (const s of this.seen) if (s <= this.auditSeq - OVERLAP) this.seen.delete(s);
    return { devices, tickets, refusals, resets: [], more: r.rows.length === POLL_ROWS };
  }

  async instancesOf(deviceId: string): Promise<readonly string[]> {
    const r = await this.pool.query<{ instance: string }>('SELECT instance FROM device_key WHERE device_id = $1 ORDER BY instance', [
      deviceId,
    ]);
    return r.rows.map((x) => x.instance);
  }

  async changeState(deviceId: string, change: StateChange, reason: string | undefined): Promise<void> {
    await pgChangeDeviceState(this.pool, deviceId, change, reason);
  }

  async update(deviceId: string, action: UpdateAction): Promise<void> {
    if (action.kind === 'clear') {
      await pgClearInstanceUpdate(this.pool, deviceId, action.instance === undefined ? undefined : parseInstance(action.instance));
      return;
    }
    const instance = parseInstance(action.instance);
    const target = await pgReleaseTarget(this.pool, this.label, instance, action.release, action.board);
    await pgRequireInstanceUpdate(this.pool, deviceId, instance, target);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
