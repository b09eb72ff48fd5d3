/**
 * Operator parity on PostgreSQL (docs/ARCHITECTURE.md §7.5): `dominion hub --check-db` on a schema
 * (ok; a wrong key, an old schema, no schema, a disabled audit trigger: exit 1 naming it), refusal
 * counts written with the batch and shown by `dominion devices`, seeded by the migration from the
 * audit log kept, and carried with rollout failures by `db migrate`. Skipped without DATABASE_URL.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HubCore, IH_ROLE, newHubKey, PendingBatch, writeHubKeyFile } from '../../../actors/hub/index.ts';
import {
  claimPgHubIdentity,
  migratePg,
  openPool,
  PG_MIGRATIONS,
  PG_SCHEMA_VERSION,
  pgEnrollKeys,
  pgRolloutStatus,
  type PgPool,
} from '../../../actors/hub/postgres/index.ts';
import { enrollKeys, setFleetPolicy, SqliteHubStore } from '../../../actors/hub/sqlite/index.ts';
import { dbCommand } from '../../../cli/db.ts';
import { hubCommand } from '../../../cli/hub.ts';
import { devicesCommand } from '../../../cli/operator.ts';
import { runDominion } from '../child.ts';
import { deviceRuntime, ihRules, newDevice, newSigner, signedRequest, tempDir, uniqueId } from '../fixtures.ts';
import { captureIo, freshSchema, needDatabase, pgIhFixture, schemaUrl } from './pg-fixture.ts';

async function schemaPool(t: TestContext, base: string): Promise<{ url: string; db: PgPool }> {
  const url = schemaUrl(base, await freshSchema(t, base));
  const db = await openPool({ url, max: 2 });
  t.after(() => db.end());
  return { url, db };
}

async function checkDb(args: string[]): Promise<{ code: number; lines: string[]; errors: string[] }> {
  const io = captureIo();
  const code = await hubCommand(['--check-db', ...args], io);
  return { code, lines: io.lines, errors: io.errors };
}

describe('operator parity on PostgreSQL', () => {
  it('hub --check-db: ok with the right key; a wrong key, an old schema, no schema, a disabled audit trigger: exit 1, named', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const { url, db } = await schemaPool(t, base);
    await migratePg(db);
    const hubId = uniqueId('ih');
    await claimPgHubIdentity(db, { hubId, role: IH_ROLE });
    const dir = tempDir();
    const keyPath = join(dir, 'ih.key.json');
    writeHubKeyFile(keyPath, newHubKey(hubId, IH_ROLE));
    const label = /^postgres:\/\/[^ ]+:\d+\/\S+/;

    let r = await checkDb(['--db', url, '--key', keyPath]);
    assert.equal(r.code, 0, r.errors.join('\n'));
    assert.match(r.lines[0]!, label);
    assert.match(r.lines[0]!, new RegExp(`: ok \\(schema version ${PG_SCHEMA_VERSION}, hub ${hubId} \\(ih\\), as the key file says\\)$`));
    r = await checkDb(['--db', url]);
    assert.match(r.lines[0]!, new RegExp(`: ok \\(schema version ${PG_SCHEMA_VERSION}, hub ${hubId} \\(ih\\)\\)$`));

    // Another hub's key file, through the real command: exit 1 and what is wrong.
    const otherKey = join(dir, 'other.key.json');
    writeHubKeyFile(otherKey, newHubKey('ih-other', IH_ROLE));
    const wrong = await runDominion(['hub', '--check-db', '--db', url, '--key', otherKey]);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /^dominion hub: postgres:\/\/\S+: the check found problems:\n/);
    assert.match(
      wrong.stderr,
      new RegExp(`\\n {2}this database belongs to hub ${hubId} \\(ih\\), not ih-other \\(ih\\) \\(the key file's\\)\\n`),
    );
    assert.equal(wrong.stdout, '');

    await db.query('ALTER TABLE audit DISABLE TRIGGER audit_no_update');
    r = await checkDb(['--db', url, '--key', keyPath]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.errors.slice(1, -1), [
      '  trigger audit_no_update on audit is missing or disabled: the audit log is no longer append-only',
    ]);

    const old = await schemaPool(t, base);
    await migratePg(old.db, PG_MIGRATIONS.slice(0, 3));
    r = await checkDb(['--db', old.url]);
    assert.equal(r.code, 1);
    assert.match(r.errors[1]!, /^ {2}schema version 3 is old \(this dominion's is \d+\): start one worker with --init to migrate it$/);
    const empty = await schemaPool(t, base);
    r = await checkDb(['--db', empty.url]);
    assert.deepEqual([r.code, r.errors[1]], [1, '  no dominion hub schema here (dominion hub --init creates it)']);
    const usage = await runDominion(['hub', '--check-db', '--db', join(dir, 'ih.db'), '--key', keyPath]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--check-db takes --key only with a postgres:\/\/ --db/);
  });

  it('refusals are counted with their batch (one worker replaying, another answering twice) and devices shows them', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const fx = await pgIhFixture(t, base);
    const url = schemaUrl(base, fx.schema);
    const other = await fx.worker();
    const signer = newSigner();
    const a = new HubCore({ role: IH_ROLE, signer, store: fx.store });
    const b = new HubCore({ role: IH_ROLE, signer, store: other });
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
    const commit = async (core: HubCore, atMs: number): Promise<string> => {
      const batch = new PendingBatch();
      const { decision } = core.handle(req.bytes, atMs, batch);
      await (core === a ? fx.store : other).commitAsync(batch.take().map((d) => d.effects));
      return `${decision.outcome}/${decision.reason}`;
    };
    assert.equal(await commit(a, 1_000), 'ticket/granted');
    assert.equal(await commit(a, 2_000), 'refused/replayed', 'worker a remembers the nonce');
    assert.equal(await commit(b, 3_000), 'ticket/granted', 'worker b decides to answer; its commit finds the nonce answered');
    const counted = await fx.store.pool.query('SELECT device_id, count, last_at_ms, last_reason FROM device_refusal');
    assert.deepEqual(counted.rows, [{ device_id: fx.dev.deviceId, count: 2, last_at_ms: 3_000, last_reason: 'replayed' }]);

    let io = captureIo();
    assert.equal(await devicesCommand(['--db', url, '--json'], io), 0, io.errors.join('\n'));
    const rows = io.lines.map((l) => JSON.parse(l) as { instance: string; refused?: { count: number; lastReason: string } });
    assert.deepEqual(
      rows.map((r) => [r.instance, r.refused?.count, r.refused?.lastReason]),
      [
        ['device', 2, 'replayed'],
        ['mm', undefined, undefined],
      ],
    );
    io = captureIo();
    assert.equal(await devicesCommand(['--db', url], io), 0);
    assert.match(io.lines[0]!, /\brefused\b/);
    assert.match(io.lines[1]!, / 2 \(replayed\) /);
  });

  it('migration 4 seeds refusal counts from the audit log kept; db migrate copies refusal counts and rollout failures', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const seeded = await schemaPool(t, base);
    await migratePg(seeded.db, PG_MIGRATIONS.slice(0, 3));
    const d = newDevice();
    await pgEnrollKeys(seeded.db, d.deviceId, [{ instance: 'device', publicKey: d.device.publicKey }]);
    const audit = "INSERT INTO audit (at_ms, outcome, reason, device_id) VALUES ($1, 'refused', $2, $3)";
    await seeded.db.query(audit, [10, 'bad-signature', d.deviceId]);
    await seeded.db.query(audit, [20, 'replayed', d.deviceId]);
    await seeded.db.query(audit, [30, 'replayed', 'never-enrolled']);
    assert.deepEqual(
      await migratePg(seeded.db),
      PG_MIGRATIONS.slice(3).map((m) => m.version),
    ); // 4 and any later
    const rows = (await seeded.db.query('SELECT device_id, count, last_at_ms, last_reason FROM device_refusal')).rows;
    assert.deepEqual(rows, [{ device_id: d.deviceId, count: 2, last_at_ms: 20, last_reason: 'replayed' }]);

    // A SQLite hub with refusal counts and a halted rollout's counted failures, moved to PostgreSQL.
    const { url, db } = await schemaPool(t, base);
    const dbPath = join(tempDir(), 'ih.db');
    const hubId = uniqueId('ih');
    const sqlite = SqliteHubStore.open({ path: dbPath, create: true, identity: { hubId, role: IH_ROLE } });
    setFleetPolicy(sqlite.db, ihRules());
    const devices = [newDevice('fleet-000'), newDevice('fleet-001')];
    for (const x of devices) enrollKeys(sqlite.db, x.deviceId, [{ instance: 'mm', publicKey: x.mm.publicKey }]);
    sqlite.db.prepare("INSERT INTO device_refusal VALUES (?, 3, 40, 'bad-signature')").run(devices[0]!.deviceId);
    sqlite.db
      .prepare(
        `INSERT INTO rollout (instance, release, target, percent, max_rollbacks, state, failures, halt_reason, halted_at_ms, started_at_ms, updated_at_ms)
         VALUES ('mm', 5, '{}', 100, 2, 'halted', 2, 'automatic: 2', 50, 10, 50)`,
      )
      .run();
    for (const x of devices) sqlite.db.prepare("INSERT INTO rollout_failure VALUES (1, ?, 'rolled-back', 45)").run(x.deviceId);
    sqlite.close();

    let io = captureIo();
    assert.equal(await dbCommand(['migrate', '--from', dbPath, '--to', url, '--init'], io), 0, io.errors.join('\n'));
    const counts = new Map(io.lines.map((l) => l.split(/\s+/)).map(([table, n]) => [table!, n!]));
    assert.deepEqual([counts.get('device_refusal'), counts.get('rollout'), counts.get('rollout_failure')], ['1', '1', '2']);
    assert.doesNotMatch(io.lines.join('\n'), /not copied/);
    const failures = (await db.query('SELECT rollout_id, device_id FROM rollout_failure ORDER BY device_id')).rows;
    assert.deepEqual(failures, [
      { rollout_id: 1, device_id: 'fleet-000' },
      { rollout_id: 1, device_id: 'fleet-001' },
    ]);
    const [status] = await pgRolloutStatus(db);
    assert.deepEqual([status!.state, status!.failures, status!.haltReason], ['halted', 2, 'automatic: 2']);
    io = captureIo();
    assert.equal(await devicesCommand(['--db', url, '--json', '--device', 'fleet-000'], io), 0, io.errors.join('\n'));
    assert.deepEqual((JSON.parse(io.lines[0]!) as { refused: unknown }).refused, { count: 3, lastAtMs: 40, lastReason: 'bad-signature' });
  });
});
