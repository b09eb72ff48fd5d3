/**
 * The device history on PostgreSQL (actors/hub/postgres/pg-history.ts, migration 3): a row per
 * reported change, not per request, written with the batch; a worker new to a device compares with
 * the table's latest row; the bound per (device, instance); `dominion history --db postgres://…`.
 * Skipped without DATABASE_URL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HubCore, IH_ROLE, PendingBatch, type HubStore } from '../../../actors/hub/index.ts';
import { PgJournal, pgReadHistory } from '../../../actors/hub/postgres/index.ts';
import { historyCommand } from '../../../cli/history.ts';
import { devicesCommand } from '../../../cli/operator.ts';
import { ResetReason } from '../../../proto/index.ts';
import { digestOf, newSigner, signedRequest } from '../fixtures.ts';
import { captureIo, needDatabase, pgIhFixture, schemaUrl, type PgIhFixture } from './pg-fixture.ts';

const T0 = 1_764_028_800_000;

function deviceReport(bootCount: bigint, reason: ResetReason) {
  return {
    report: {
      case: 'device' as const,
      value: {
        bootCount,
        lastResetReason: reason,
        firmwareVersion: '2.1.0',
        manifestDigest: digestOf('manifest'),
        slots: [{ label: 'sw', version: 5n, slot: 'a' }],
      },
    },
  };
}

/** Decides ticket requests of the fixture's device at `atMs`, `atMs + 1`, …; returns their effects. */
function decide(fx: PgIhFixture, store: HubStore, boots: ReadonlyArray<[bigint, ResetReason]>, atMs: number) {
  const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store });
  const batch = new PendingBatch();
  boots.forEach(([count, reason], i) => {
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceReport(count, reason));
    assert.equal(core.handle(req.bytes, atMs + i, batch).decision.outcome, 'ticket');
  });
  return batch.take().map((d) => d.effects);
}

describe('device history on PostgreSQL', () => {
  it('a row per change, not per request; another worker reads the table; dominion history --db postgres:// prints it', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const same: [bigint, ResetReason] = [3n, ResetReason.POWER_ON];
    await fx.store.commitAsync(decide(fx, fx.store, [same, same], T0));
    await fx.store.commitAsync(decide(fx, fx.store, [[4n, ResetReason.TICKET_TIMEOUT]], T0 + 1000));
    const brief = async () =>
      (await pgReadHistory(fx.store.pool, { deviceId: fx.dev.deviceId })).map((e) => [e.atMs, e.source, e.bootCount, e.resetReason]);
    assert.deepEqual(await brief(), [
      [T0, 'runtime', 3, 'power-on'],
      [T0 + 1000, 'runtime', 4, 'ticket-timeout'],
    ]);
    // A second worker knows nothing of the device: the same report again finds the table's row.
    const other = await fx.worker();
    await other.commitAsync(decide(fx, other, [[4n, ResetReason.TICKET_TIMEOUT]], T0 + 2000));
    assert.equal((await brief()).length, 2, 'the other worker found the row in the table');
    // The first worker remembers boot 4; the other recorded nothing new; a change on either is a row.
    await other.commitAsync(decide(fx, other, [[5n, ResetReason.UPDATE]], T0 + 3000));
    await fx.store.commitAsync(decide(fx, fx.store, [[5n, ResetReason.UPDATE]], T0 + 4000));
    assert.deepEqual((await brief()).at(-1), [T0 + 3000, 'runtime', 5, 'update']);
    assert.equal((await brief()).length, 3, 'the first worker compared its change with the table');
    const [first] = await pgReadHistory(fx.store.pool, { deviceId: fx.dev.deviceId });
    assert.equal(first!.hubId, 'ih-pg');
    assert.equal(first!.images, 'sw 5');
    assert.deepEqual(
      (await pgReadHistory(fx.store.pool, { deviceId: fx.dev.deviceId, limit: 1 })).map((e) => e.bootCount),
      [5],
      'limit keeps the newest',
    );

    const dbUrl = schemaUrl(url, fx.schema);
    const io = captureIo();
    assert.equal(await historyCommand(['--db', dbUrl, '--device', fx.dev.deviceId], io), 0, io.errors.join('\n'));
    assert.match(io.lines[0]!, /time\s+hub\s+instance\s+source\s+boots\s+reset/);
    assert.match(io.lines.join('\n'), /ih-pg\s+device\s+runtime\s+3\s+power-on\s+2\.1\.0\s+sw 5/);
    assert.match(io.lines.join('\n'), /ih-pg\s+device\s+runtime\s+4\s+ticket-timeout/);
    const json = captureIo();
    assert.equal(await historyCommand(['--db', dbUrl, '--device', fx.dev.deviceId, '--json', '--limit', '2'], json), 0);
    assert.deepEqual(
      json.lines.map((l) => (JSON.parse(l) as { bootCount: number }).bootCount),
      [4, 5],
    );
    const devices = captureIo();
    assert.equal(await devicesCommand(['--db', dbUrl, '--device', fx.dev.deviceId, '--json'], devices), 0, devices.errors.join('\n'));
    const row = devices.lines.map((l) => JSON.parse(l) as { instance: string; reported?: unknown }).find((r) => r.instance === 'device');
    assert.deepEqual(row?.reported, { bootCount: 5, resetReason: 'update', firmwareVersion: '2.1.0' }, 'devices shows the history too');
    const none = captureIo();
    assert.equal(await historyCommand(['--db', dbUrl, '--device', 'nobody'], none), 0);
    assert.deepEqual(none.lines, ['no history for nobody']);
  });

  it('keeps the newest rows per (device, instance); a rolled-back batch leaves no memory behind', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const journal = new PgJournal(fx.store.pool, 'ih-pg', { keep: 2 });
    for (let i = 1; i <= 4; i++) await journal.commit(decide(fx, fx.store, [[BigInt(i), ResetReason.POWER_ON]], T0 + i * 1000));
    const counts = async () => (await pgReadHistory(fx.store.pool, { deviceId: fx.dev.deviceId })).map((e) => e.bootCount);
    assert.deepEqual(await counts(), [3, 4]);
    // A batch whose transaction fails (its audit row refused by a trigger): nothing stays, and the
    // report it carried is recorded when it comes again.
    await fx.store.pool.query(
      `CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
       CREATE TRIGGER t_refuse BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION t_refuse()`,
    );
    const five = decide(fx, fx.store, [[5n, ResetReason.OPERATOR]], T0 + 5000);
    await assert.rejects(journal.commit(five), /refused by the test/);
    await fx.store.pool.query('DROP TRIGGER t_refuse ON audit');
    assert.deepEqual(await counts(), [3, 4]);
    await journal.commit(decide(fx, fx.store, [[5n, ResetReason.OPERATOR]], T0 + 6000));
    assert.deepEqual(await counts(), [4, 5]);
  });
});
