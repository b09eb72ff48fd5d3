/**
 * Where the dashboard bench's fleet lives (`--db sqlite|postgres`): the SQLite file big-fleet.ts
 * wrote, or that fleet moved into a fresh PostgreSQL database by `dominion db migrate`'s copy
 * (bench/fleet/enrol-pg.ts; dropped after). Each gives what `dominion dashboard` gets as --db, a
 * writer that commits changes as a hub and an operator do, the start-up scan timed in this process
 * (dashboard/open.ts, as the process opens it), and, on PostgreSQL, the plan of one scan page.
 */
import { changeDeviceState, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { inTransaction, openPool, pgChangeDeviceState } from '../../actors/hub/postgres/index.ts';
import { openSources } from '../../dashboard/open.ts';
import { SCAN_PAGE, SCAN_PAGE_SQL } from '../../dashboard/pg-source.ts';
import { pgFleetDatabase } from '../fleet/enrol-pg.ts';
import { bigFleetId } from './big-fleet.ts';

export type BenchStore = { readonly kind: 'sqlite' } | { readonly kind: 'postgres'; readonly server: string };

export interface FleetWriter {
  /** Ticket-like activity and an audit row for each device, in one transaction, as a hub's batch. */
  touch(deviceIds: readonly string[], nowMs: number): Promise<void>;
  /** An operator's quarantine from another connection. */
  quarantine(deviceId: string): Promise<void>;
  close(): Promise<void>;
}

export interface BenchFleet {
  /** What `dominion dashboard --db` gets. */
  readonly db: string;
  readonly store: 'SQLite' | 'PostgreSQL';
  /** The copy into PostgreSQL, ms (undefined on SQLite). */
  readonly copyMs?: number;
  writer(): Promise<FleetWriter>;
  /** The start-up scan (the source's scan() over the whole fleet) in this process, ms, and rows read. */
  scanMs(): Promise<{ ms: number; rows: number }>;
  /** EXPLAIN (ANALYZE) of the scan page after the middle device (PostgreSQL only). */
  plan(devices: number): Promise<string[] | undefined>;
  drop(): Promise<void>;
}

/** The fleet in `sqlitePath` (already enrolled) as the chosen store sees it. */
export async function benchFleet(store: BenchStore, sqlitePath: string): Promise<BenchFleet> {
  const scanMs = async (db: string): Promise<{ ms: number; rows: number }> => {
    const [source] = await openSources([db]);
    try {
      let rows = 0;
      const t = performance.now();
      await source!.scan(Date.now(), () => void rows++);
      return { ms: performance.now() - t, rows };
    } finally {
      await source!.close();
    }
  };
  if (store.kind === 'sqlite')
    return {
      db: sqlitePath,
      store: 'SQLite',
      writer: async () => sqliteWriter(sqlitePath),
      scanMs: () => scanMs(sqlitePath),
      plan: async () => undefined,
      drop: async () => {},
    };
  const pg = await pgFleetDatabase(store.server, sqlitePath);
  return {
    db: pg.url,
    store: 'PostgreSQL',
    copyMs: pg.copyMs,
    writer: () => pgWriter(pg.url),
    scanMs: () => scanMs(pg.url),
    plan: async (devices) => {
      const pool = await openPool({ url: pg.url, max: 1 });
      try {
        // ANALYZE first: the copy just wrote the rows, autovacuum may not have looked yet.
        await pool.query('ANALYZE');
        const r = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${SCAN_PAGE_SQL}`, [
          bigFleetId(Math.floor(devices / 2)),
          SCAN_PAGE,
        ]);
        return r.rows.map((row) => row['QUERY PLAN']);
      } finally {
        await pool.end().catch(() => {});
      }
    },
    drop: async () => pg.drop(),
  };
}

function sqliteWriter(path: string): FleetWriter {
  const writer = SqliteHubStore.open({ path });
  const touch = writer.db.prepare(
    "UPDATE instance_activity SET last_request_at_ms = ?, last_ticket_at_ms = ?, deadline_ms = ? + 30000 WHERE device_id = ? AND instance = 'device'",
  );
  const audit = writer.db.prepare(
    "INSERT INTO audit (at_ms, hub_id, outcome, reason, device_id, instance, deferral_ms) VALUES (?, 'ih-1', 'ticket', 'granted', ?, 'device', 30000)",
  );
  return {
    touch: async (ids, now) =>
      writer.db.transaction(() => {
        for (const id of ids) {
          touch.run(now, now, now, id);
          audit.run(now, id);
        }
      })(),
    quarantine: async (id) => void changeDeviceState(writer.db, id, 'quarantine', 'bench'),
    close: async () => writer.close(),
  };
}

async function pgWriter(url: string): Promise<FleetWriter> {
  const pool = await openPool({ url, max: 1 });
  return {
    touch: (ids, now) =>
      inTransaction(pool, async (c) => {
        await c.query(
          `UPDATE instance_activity SET last_request_at_ms = $1::bigint, last_ticket_at_ms = $1::bigint, deadline_ms = $1::bigint + 30000
           WHERE device_id = ANY ($2::text[]) AND instance = 'device'`,
          [now, [...ids]],
        );
        await c.query(
          `INSERT INTO audit (at_ms, hub_id, outcome, reason, device_id, instance, deferral_ms)
           SELECT $1::bigint, 'ih-1', 'ticket', 'granted', id, 'device', 30000 FROM unnest($2::text[]) AS id`,
          [now, [...ids]],
        );
      }),
    quarantine: async (id) => void (await pgChangeDeviceState(pool, id, 'quarantine', 'bench')),
    close: () => pool.end().catch(() => {}),
  };
}
