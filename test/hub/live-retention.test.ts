/**
 * Audit retention on a running hub (docs/ARCHITECTURE.md §7.2): `dominion hub --audit-keep <days>`
 * prunes on the hub's own sweep, one batch at a time, then waits a minute before looking again —
 * and every pruned row is counted in the summary. Real SQLite, embedded broker, the hub's clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import { IH_ROLE, newHubKey, SqliteHub } from '../../actors/hub/index.ts';
import { auditSummary, readAudit, SqliteHubStore, type SqliteDatabase } from '../../actors/hub/sqlite/index.ts';
import { tempDir, uniqueId } from './fixtures.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-25T12:00:00Z');

/** One audit row per hour over `days` days ending at `endMs`. */
function addRows(db: SqliteDatabase, endMs: number, days: number, hubId: string): number[] {
  const insert = db.prepare('INSERT INTO audit (at_ms, hub_id, outcome, reason, device_id, instance, ref) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const at: number[] = [];
  db.transaction(() => {
    for (let t = endMs - days * DAY; t <= endMs; t += 3_600_000) {
      insert.run(t, hubId, 'ticket', 'granted', 'd1', 'device', `${t.toString(16)}${at.length}`);
      at.push(t);
    }
  })();
  return at;
}

test('a running hub prunes audit rows older than --audit-keep on its sweep, summarises them, and looks again a minute later', async () => {
  const dir = tempDir();
  const path = join(dir, 'ih.db');
  const hubId = uniqueId('ih');
  const key = newHubKey(hubId, IH_ROLE);
  const seed = SqliteHubStore.open({ path, create: true, identity: { hubId, role: IH_ROLE } });
  const first = addRows(seed.db, NOW, 10, hubId);
  seed.close();

  let now = NOW;
  const broker = await startEmbeddedBroker();
  const hub = await SqliteHub.start({
    role: IH_ROLE,
    hubId,
    brokerUrl: broker.url,
    dbPath: path,
    signer: key.signer,
    shareGroup: null,
    clock: () => now,
    auditKeepDays: 4,
    sweepIntervalMs: 3_600_000, // swept by hand below
    integrityCheckIntervalMs: 0,
  });
  try {
    const cut = NOW - 4 * DAY;
    hub.sweep();
    const gone = first.filter((t) => t < cut);
    assert.ok(gone.length > 100);
    assert.equal(hub.stats().sweeps.pruned, gone.length);
    assert.deepEqual(
      readAudit(hub.store.db).map((e) => e.atMs),
      first.filter((t) => t >= cut),
    );
    const summarised = auditSummary(hub.store.db).reduce((n, s) => n + s.pruned, 0);
    assert.equal(summarised, gone.length);

    // Rows that age past the cut are left until the next look, a minute on.
    now += 30_000;
    const late = addRows(hub.store.db, now - 5 * DAY, 0, hubId); // one row, already too old
    hub.sweep();
    assert.equal(hub.stats().sweeps.pruned, gone.length, 'no second look within the minute');
    now += 31_000;
    hub.sweep();
    // The cut moved with the clock: the row that sat exactly on it goes too.
    const goneNow = first.filter((t) => t < now - 4 * DAY).length + late.length;
    assert.equal(goneNow, gone.length + 2);
    assert.equal(hub.stats().sweeps.pruned, goneNow);
    assert.equal(hub.stats().sweeps.pruneFailures, 0);
  } finally {
    await hub.stop();
    await broker.close();
  }
});
