/**
 * A PostgreSQL hub (docs/ARCHITECTURE.md §7.4) as a dashboard source. Resets, boot counts and
 * firmware come from the device history (pg-history.ts), as on SQLite; refusal counts are not read
 * (the SQLite source does not read them either). Actions run `dominion quarantine|require-update --db postgres://…`'s own functions.
 * Change detection: the audit and history rows past their watermarks, by primary key. Identity
 * values commit out of order under concurrent writers, so each poll re-reads a small window below
 * each watermark and skips the rows it has seen (seq-window.ts; start() marks the window's rows as
 * seen: they are in the index already).
 */
import {
  describeUrl,
  openPool,
  pgChangeDeviceState,
  pgClearInstanceUpdate,
  pgFleetView,
  pgReadAudit,
  pgReadHistory,
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
import { resetsOf } from './resets.ts';
import { OVERLAP, SeqWindow } from './seq-window.ts';
import { auditJson } from './types.ts';
import { parseInstance } from '../proto/index.ts';

export const SCAN_PAGE = 2000;

const COLUMNS = `d.device_id, d.state AS device_state, d.state_reason, k.instance,
  a.last_request_at_ms, a.last_reason, a.last_ticket_at_ms, a.last_deferral_ms, a.deadline_ms, a.state,
  a.expired::int AS expired, NULL::text AS slots, NULL::int AS recovery,
  b.at_ms AS boot_at_ms, b.boot_count, b.outcome AS boot_outcome, b.reason AS boot_reason, NULL::text AS boot_images,
  CASE WHEN k.instance = 'device' THEN (SELECT h.boot_count FROM device_history h WHERE h.device_id = k.device_id
    AND h.instance = 'device' AND h.boot_count IS NOT NULL ORDER BY h.seq DESC LIMIT 1) END AS rep_boot_count,
  NULL::text AS rep_reset_reason,
  CASE WHEN k.instance = 'device' THEN (SELECT h.firmware_version FROM device_history h WHERE h.device_id = k.device_id
    AND h.instance = 'device' AND h.firmware_version IS NOT NULL ORDER BY h.seq DESC LIMIT 1) END AS rep_firmware,
  NULL::bigint AS refused_count, NULL::bigint AS refused_at_ms, NULL::text AS refused_reason`;

/**
 * A device's instances and their rows, looked up per device in `d`: each LATERAL subquery is kept
 * a subquery (OFFSET 0) so it runs as an index lookup per device. Written as plain joins, the
 * planner hashes whole tables once a page of 2,000 devices makes that look cheaper, and every page
 * of the start-up scan then reads the whole fleet again (docs/ARCHITECTURE.md §7.6).
 */
const PER_DEVICE = `
  JOIN LATERAL (SELECT device_id, instance FROM device_key WHERE device_id = d.device_id OFFSET 0) k ON true
  LEFT JOIN LATERAL (SELECT * FROM instance_activity WHERE device_id = k.device_id AND instance = k.instance OFFSET 0) a ON true
  LEFT JOIN LATERAL (SELECT * FROM device_boot WHERE device_id = d.device_id AND k.instance = 'device' OFFSET 0) b ON true`;

/**
 * One page of the start-up scan: the devices after $1 in byte order (as SQLite's BINARY and the
 * index's binary search), $2 of them, with their instances' rows. The order is served by the index
 * on device_id COLLATE "C" (migration 5); exported for the bench's EXPLAIN.
 */
export const SCAN_PAGE_SQL = `WITH d AS (SELECT device_id, state, state_reason FROM device
    WHERE device_id COLLATE "C" > $1 ORDER BY device_id COLLATE "C" LIMIT $2)
  SELECT ${COLUMNS}
  FROM d ${PER_DEVICE}
  ORDER BY d.device_id COLLATE "C", k.instance COLLATE "C"`;

export class PgSource implements HubSource {
  readonly store = 'postgres' as const;
  private readonly audit = new SeqWindow();
  private readonly history = new SeqWindow();

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
      const r = await this.pool.query<FleetSourceRow>(SCAN_PAGE_SQL, [after, SCAN_PAGE]);
      if (r.rows.length === 0) return;
      for (const row of r.rows) each(fleetRowsOf([row], nowMs)[0]!);
      after = r.rows[r.rows.length - 1]!.device_id;
    }
  }

  async rowsOf(deviceIds: readonly string[], nowMs: number): Promise<FleetRow[]> {
    const r = await this.pool.query<FleetSourceRow>(
      `SELECT ${COLUMNS}
       FROM device d ${PER_DEVICE}
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
    return { rows, resets: resetsOf(await pgReadHistory(this.pool, { deviceId })), audit };
  }

  async start(sinceMs: number, resetsSinceMs: number): Promise<SourceHistory> {
    const auditSeq = await this.startWindow(this.audit, 'audit');
    const historySeq = await this.startWindow(this.history, 'device_history');
    const r = await this.pool.query<{ minute: number; outcome: string; n: number }>(
      `SELECT (at_ms / 60000) * 60000 AS minute, outcome, count(*)::bigint AS n FROM audit
       WHERE at_ms >= $1 AND seq <= $2 AND outcome IN ('ticket', 'refused') GROUP BY 1, 2`,
      [sinceMs, auditSeq],
    );
    const resets = await this.pool.query<{ atMs: number; reason: string }>(
      `SELECT at_ms AS "atMs", reset_reason AS reason FROM device_history
       WHERE instance = 'device' AND source = 'runtime' AND reset_reason IS NOT NULL AND at_ms >= $1 AND seq <= $2`,
      [resetsSinceMs, historySeq],
    );
    return {
      tickets: r.rows.filter((x) => x.outcome === 'ticket').map((x) => [x.minute, x.n] as const),
      refusals: r.rows.filter((x) => x.outcome === 'refused').map((x) => [x.minute, x.n] as const),
      resets: resets.rows,
    };
  }

  /** The table's newest seq as the window's watermark; the overlap's committed rows count as seen. */
  private async startWindow(window: SeqWindow, table: 'audit' | 'device_history'): Promise<number> {
    const max = (await this.pool.query<{ s: number | null }>(`SELECT max(seq) AS s FROM ${table}`)).rows[0]?.s ?? 0;
    const committed = await this.pool.query<{ seq: number }>(`SELECT seq FROM ${table} WHERE seq > $1 AND seq <= $2`, [
      Math.max(0, max - OVERLAP),
      max,
    ]);
    window.reset(
      max,
      committed.rows.map((row) => row.seq),
    );
    return max;
  }

  async poll(): Promise<SourceChanges> {
    const r = await this.pool.query<{ seq: number; at_ms: number; outcome: string; device_id: string | null }>(
      'SELECT seq, at_ms, outcome, device_id FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2',
      [this.audit.from, POLL_ROWS],
    );
    const devices = new Set<string>();
    const tickets: number[] = [];
    const refusals: number[] = [];
    for (const row of r.rows) {
      if (!this.audit.accept(row.seq)) continue;
      if (row.device_id !== null) devices.add(row.device_id);
      if (row.outcome === 'ticket') tickets.push(row.at_ms);
      else if (row.outcome === 'refused') refusals.push(row.at_ms);
    }
    this.audit.prune();
    const h = await this.pool.query<{ seq: number; at_ms: number; instance: string; source: string; reset_reason: string | null }>(
      'SELECT seq, at_ms, instance, source, reset_reason FROM device_history WHERE seq > $1 ORDER BY seq LIMIT $2',
      [this.history.from, POLL_ROWS],
    );
    const resets: Array<{ atMs: number; reason: string }> = [];
    for (const row of h.rows) {
      if (!this.history.accept(row.seq)) continue;
      if (row.instance === 'device' && row.source === 'runtime' && row.reset_reason !== null)
        resets.push({ atMs: row.at_ms, reason: row.reset_reason });
    }
    this.history.prune();
    return { devices, tickets, refusals, resets, more: r.rows.length === POLL_ROWS || h.rows.length === POLL_ROWS };
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
