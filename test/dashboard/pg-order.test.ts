/**
 * The PostgreSQL source's start-up scan keeps SQLite's order (byte order: the fleet index's binary
 * search and paging by id depend on it) on a database whose own collation sorts otherwise (ICU
 * en-US: case and punctuation fold), across keyset pages; and PostgreSQL migration 5's index on
 * `device_id COLLATE "C"` applies on a version-4 schema and serves the page's order.
 * A fresh database per test (the collation is a database's), dropped after; skipped without DATABASE_URL.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { hex, keyIdOf, nobleBackend, randomNonce } from '../../actors/crypto/index.ts';
import { IH_ROLE } from '../../actors/hub/index.ts';
import {
  copySqliteToPg,
  inTransaction,
  migratePg,
  openPool,
  PG_MIGRATIONS,
  PG_SCHEMA_VERSION,
  pgSchemaVersion,
} from '../../actors/hub/postgres/index.ts';
import { openHubDatabase, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { PgSource, SCAN_PAGE, SCAN_PAGE_SQL } from '../../dashboard/pg-source.ts';
import { SqliteSource } from '../../dashboard/sqlite-source.ts';
import { tempDir } from '../hub/fixtures.ts';
import { needDatabase } from '../hub/postgres/pg-fixture.ts';

/** Ids whose byte order and en-US order differ; each prefix many times, so pages break among them. */
const PREFIXES = ['a', 'B', '_x', 'é', 'Z9', 'z', 'A-', 'a.', '0'];
const PER_PREFIX = Math.ceil((SCAN_PAGE + 300) / PREFIXES.length);
const IDS = PREFIXES.flatMap((p) => Array.from({ length: PER_PREFIX }, (_, i) => `${p}${i % 3 === 0 ? '-' : ''}${i}`));
const byteOrder = (ids: readonly string[]): string[] => [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

/** A new database whose default collation is ICU en-US (not "C"), dropped when the test ends. */
async function enUsDatabase(t: TestContext, server: string): Promise<string | undefined> {
  const name = `dominion_order_${hex(randomNonce(4))}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`);
  } catch (err) {
    // A server built without ICU: nothing here can sort otherwise than bytes in a known way.
    if ((err as { code?: string }).code === '0A000') {
      t.skip(`this PostgreSQL has no ICU: ${(err as Error).message}`);
      return undefined;
    }
    throw err;
  } finally {
    await admin.end();
  }
  t.after(async () => {
    const c = new pg.Client({ connectionString: server });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  const u = new URL(server);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A SQLite IH with IDS enrolled (device and key rows, as `enroll` writes them), in insertion order. */
function sqliteFleet(): string {
  const path = join(tempDir('dominion-dash-order-'), 'ih.db');
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId: 'ih-order', role: IH_ROLE } });
  const backend = nobleBackend();
  const device = store.db.prepare("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES (?, 'active', 1, 1)");
  const key = store.db.prepare('INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES (?, ?, ?, ?, 1)');
  store.db.transaction(() => {
    for (const id of IDS) {
      device.run(id);
      for (const instance of ['mm', 'device']) {
        const publicKey = randomBytes(32);
        key.run(id, instance, publicKey, keyIdOf(backend, publicKey));
      }
    }
  })();
  store.close();
  return path;
}

async function scanned(source: { scan(nowMs: number, each: (row: { deviceId: string; instance: string }) => void): Promise<void> }) {
  const rows: string[] = [];
  await source.scan(1000, (row) => void rows.push(`${row.deviceId}/${row.instance}`));
  return rows;
}

describe('dashboard PostgreSQL source: byte order on a non-C database', () => {
  it('scans in SQLite’s byte order across keyset pages, where the database’s collation sorts otherwise; rowsOf too', async (t) => {
    const server = needDatabase(t);
    if (server === undefined) return;
    const url = await enUsDatabase(t, server);
    if (url === undefined) return;
    const path = sqliteFleet();
    const pool = await openPool({ url, max: 1 });
    t.after(() => pool.end());
    await migratePg(pool);
    const copied = openHubDatabase(path, { create: false });
    await copySqliteToPg(copied, pool, 'order test');
    copied.close();

    // The database's own order is not byte order: the test could fail.
    const own = (await pool.query<{ device_id: string }>('SELECT device_id FROM device ORDER BY device_id')).rows.map((r) => r.device_id);
    assert.notDeepEqual(own, byteOrder(IDS));

    const sqlite = SqliteSource.open(path);
    const pgSource = await PgSource.open(url);
    t.after(() => pgSource.close());
    const fromSqlite = await scanned(sqlite);
    sqlite.close();
    const fromPg = await scanned(pgSource);
    const expected = byteOrder(IDS).flatMap((id) => [`${id}/device`, `${id}/mm`]);
    assert.equal(IDS.length > SCAN_PAGE, true, 'more devices than one page');
    assert.deepEqual(fromSqlite, expected);
    assert.deepEqual(fromPg, expected);

    const some = [IDS[5]!, IDS[PER_PREFIX + 1]!, IDS[3 * PER_PREFIX]!, IDS[IDS.length - 1]!];
    const rows = await pgSource.rowsOf(some, 1000);
    assert.deepEqual(
      rows.map((r) => `${r.deviceId}/${r.instance}`),
      byteOrder(some).flatMap((id) => [`${id}/device`, `${id}/mm`]),
    );
  });

  it('migration 5 applies on a version-4 schema with devices, and its index serves the scan page’s order', async (t) => {
    const server = needDatabase(t);
    if (server === undefined) return;
    const url = await enUsDatabase(t, server);
    if (url === undefined) return;
    const pool = await openPool({ url, max: 1 });
    t.after(() => pool.end());
    assert.deepEqual(
      await migratePg(
        pool,
        PG_MIGRATIONS.filter((m) => m.version <= 4),
      ),
      [1, 2, 3, 4],
    );
    await pool.query('INSERT INTO device (device_id, enrolled_at_ms, updated_at_ms) SELECT unnest($1::text[]), 1, 1', [IDS]);
    assert.deepEqual(
      await migratePg(pool),
      PG_MIGRATIONS.slice(4).map((m) => m.version),
    ); // 5 and any later
    assert.equal(await pgSchemaVersion(pool), PG_SCHEMA_VERSION);
    assert.deepEqual(await migratePg(pool), [], 'nothing left to apply');
    const index = await pool.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'device_id_bytes'");
    assert.match(index.rows[0]?.indexdef ?? '', /device_id COLLATE "C"/);

    // The planner may pick a scan and a sort for a table this small; with table scans made dear,
    // it reads the page from an index: ours only if an index holds the byte order (else the key's).
    await pool.query('ANALYZE device');
    const plan = await inTransaction(pool, async (c) => {
      await c.query('SET LOCAL enable_seqscan = off');
      return (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${SCAN_PAGE_SQL}`, ['a', SCAN_PAGE])).rows.map((r) => r['QUERY PLAN']);
    });
    assert.match(plan.join('\n'), /Index (Only )?Scan using device_id_bytes on device/);
    // …in the page's order: the devices are not sorted after (the whole rows are, by device and instance).
    assert.equal(
      plan.some((line) => /Sort Key: device\.device_id COLLATE "C"$/.test(line)),
      false,
      plan.join('\n'),
    );
  });
});
