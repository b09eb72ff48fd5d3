import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WithholdReason } from '../../proto/index.ts';
import { IH_ROLE, requestRef, serviceHubRole } from '../../actors/hub/index.ts';
import {
  changeDeviceState,
  enrollKeys,
  fleetView,
  HubStoreError,
  migrate,
  MIGRATIONS,
  openHubDatabase,
  readAudit,
  requireInstanceUpdate,
  SCHEMA_VERSION,
  schemaVersion,
  setDevicePolicy,
  SqliteHubStore,
  withholdInstance,
  type Migration,
} from '../../actors/hub/sqlite/index.ts';
import {
  deviceRuntime,
  digestOf,
  domainRuntime,
  newDevice,
  newSigner,
  openReply,
  signedRequest,
  sqliteIhFixture,
  stagedHub,
  tempDir,
} from './fixtures.ts';

const NOW = 1_764_028_800_000;
const MM_OK = domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }]);

function storeError(fn: () => unknown): HubStoreError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HubStoreError, `expected HubStoreError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('hub database: open and migrate', () => {
  it('creates a new database at the newest schema, in WAL mode', () => {
    const path = join(tempDir(), 'new.db');
    const db = openHubDatabase(path, { create: true });
    try {
      assert.equal(schemaVersion(db), SCHEMA_VERSION);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('a missing, empty, corrupt or foreign file is a clear error at open', () => {
    const dir = tempDir();
    assert.equal(storeError(() => openHubDatabase(join(dir, 'nope.db'))).code, 'missing');
    writeFileSync(join(dir, 'empty.db'), '');
    assert.equal(storeError(() => openHubDatabase(join(dir, 'empty.db'))).code, 'missing');
    writeFileSync(join(dir, 'junk.db'), randomBytes(8192));
    const corrupt = storeError(() => openHubDatabase(join(dir, 'junk.db')));
    assert.equal(corrupt.code, 'corrupt');
    assert.match(corrupt.message, /junk\.db/);
    const other = new Database(join(dir, 'other.db'));
    other.exec('CREATE TABLE cats (name TEXT)');
    other.close();
    assert.equal(storeError(() => openHubDatabase(join(dir, 'other.db'))).code, 'not-a-hub-db');
  });

  it('a database truncated mid-file is reported corrupt, not crashed on later', () => {
    const path = join(tempDir(), 'cut.db');
    const fx = SqliteHubStore.open({ path, create: true });
    fx.db.pragma('journal_mode = DELETE'); // everything in the main file, so cutting it damages the schema
    for (let i = 0; i < 50; i++) enrollKeys(fx.db, `dev-${i}`, [{ instance: 'device', publicKey: newSigner().publicKey }]);
    fx.close();
    const bytes = randomBytes(4096);
    const original = new Database(path).serialize();
    writeFileSync(path, Buffer.concat([original.subarray(0, 100), bytes, original.subarray(4196, 8192)]));
    const err = storeError(() => SqliteHubStore.open({ path }));
    assert.ok(['corrupt', 'not-a-hub-db'].includes(err.code), err.message);
  });

  it('migrates a version-1 database with data forward, keeping the data', () => {
    const path = join(tempDir(), 'v1.db');
    const db = new Database(path);
    migrate(db, 1);
    assert.equal(schemaVersion(db), 1);
    const k = newSigner();
    db.prepare("INSERT INTO device (device_id, state, enrolled_at_ms, updated_at_ms) VALUES ('old-1', 'quarantined', 1, 1)").run();
    db.prepare("INSERT INTO device_key (device_id, instance, public_key, key_id, enrolled_at_ms) VALUES ('old-1', 'device', ?, ?, 1)").run(
      k.publicKey,
      k.keyId,
    );
    db.prepare(
      "INSERT INTO instance_activity (device_id, instance, last_request_at_ms, last_outcome, last_ticket_at_ms, last_deferral_ms) VALUES ('old-1', 'device', 10, 'ticket', 10, 500)",
    ).run();
    db.close();

    const store = SqliteHubStore.open({ path });
    try {
      assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
      assert.equal(store.registry.device('old-1')?.state, 'quarantined');
      assert.equal(store.registry.keyById(k.keyId)?.deviceId, 'old-1');
      const [row] = fleetView(store.db, 0);
      assert.equal(row?.deadlineMs, 510, 'v2 derives the deadline of existing rows');
    } finally {
      store.close();
    }
  });

  it('refuses a database from a newer dominion, and rolls back a failing migration whole', () => {
    const dir = tempDir();
    const newer = new Database(join(dir, 'newer.db'));
    migrate(newer);
    newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    assert.equal(storeError(() => openHubDatabase(join(dir, 'newer.db'))).code, 'too-new');

    const db = new Database(join(dir, 'broken.db'));
    migrate(db, 1);
    const broken: Migration[] = [
      ...MIGRATIONS.slice(0, 1),
      { version: 2, summary: 'bad', sql: 'CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);' },
    ];
    assert.throws(() => migrate(db, 2, broken));
    assert.equal(schemaVersion(db), 1);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").pluck().get(), 0, 'no half-applied migration');
    assert.deepEqual(
      migrate(db),
      MIGRATIONS.slice(1).map((m) => m.version),
      'the real migrations still apply',
    );
    db.close();
  });

  it('binds a database to one hub', () => {
    const path = join(tempDir(), 'ih.db');
    SqliteHubStore.open({ path, create: true, identity: { hubId: 'ih-1', role: IH_ROLE } }).close();
    assert.equal(storeError(() => SqliteHubStore.open({ path, identity: { hubId: 'sh-x', role: serviceHubRole('x') } })).code, 'wrong-hub');
    SqliteHubStore.open({ path, identity: { hubId: 'ih-1', role: IH_ROLE } }).close();
  });
});

describe('hub database: audit and registry', () => {
  it('the audit log refuses updates; a deleted row is counted in the summary', () => {
    const fx = sqliteIhFixture();
    try {
      assert.throws(() => fx.store.db.prepare("UPDATE audit SET reason = 'x'").run(), /append-only/);
      const n = fx.store.db.prepare('DELETE FROM audit').run().changes;
      assert.ok(n > 0);
      assert.equal(fx.store.db.prepare('SELECT coalesce(sum(count), 0) FROM audit_summary').pluck().get(), n);
    } finally {
      fx.store.close();
    }
  });

  it('a decision is written only at commit: audit row with ref, activity with deadline', () => {
    const fx = sqliteIhFixture();
    const reader = openHubDatabase(fx.path);
    try {
      const before = readAudit(reader).length;
      const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
      const decision = fx.ask(req.bytes, NOW);
      assert.equal(decision.outcome, 'ticket');
      assert.equal(readAudit(reader).length, before, 'nothing visible before commit');
      assert.equal(fx.commit() > 0, true);
      const last = readAudit(reader).at(-1)!;
      assert.deepEqual(
        [last.outcome, last.reason, last.deviceId, last.instance, last.deferralMs, last.ref, last.hubId],
        ['ticket', 'granted', fx.dev.deviceId, 'device', 45_500, requestRef(req.nonce), 'ih-test'],
      );
      const row = fleetView(reader, NOW).find((r) => r.instance === 'device')!;
      assert.deepEqual([row.lastRequestAtMs, row.lastTicketAtMs, row.deadlineMs, row.state], [NOW, NOW, NOW + 45_500, 'ok']);
    } finally {
      reader.close();
      fx.store.close();
    }
  });

  it('enrolment: one key per instance, only instances the hub dominates', () => {
    const dir = tempDir();
    const sh = SqliteHubStore.open({
      path: join(dir, 'sh.db'),
      create: true,
      identity: { hubId: 'sh-w', role: serviceHubRole('weather') },
    });
    try {
      const dev = newDevice();
      assert.equal(
        storeError(() => enrollKeys(sh.db, dev.deviceId, [{ instance: 'device', publicKey: dev.device.publicKey }])).code,
        'refused',
      );
      enrollKeys(sh.db, dev.deviceId, [{ instance: 'sm:weather', publicKey: dev.sm.publicKey }]);
      assert.equal(
        storeError(() => enrollKeys(sh.db, 'other', [{ instance: 'sm:weather', publicKey: dev.sm.publicKey }])).message.includes(
          'already enrolled',
        ),
        true,
      );
      assert.equal(sh.registry.keyFor(dev.deviceId, 'sm:weather')?.instance, 'sm:weather');
      changeDeviceState(sh.db, dev.deviceId, 'revoke');
      const fresh = newSigner();
      assert.match(
        storeError(() => enrollKeys(sh.db, dev.deviceId, [{ instance: 'sm:weather', publicKey: fresh.publicKey }])).message,
        /revoked/,
      );
      enrollKeys(sh.db, dev.deviceId, [{ instance: 'sm:weather', publicKey: fresh.publicKey }], { reinstate: true });
      assert.equal(sh.registry.device(dev.deviceId)?.state, 'active');
      assert.equal(sh.registry.keyById(dev.sm.keyId), undefined, 'the revoked key is gone');
    } finally {
      sh.close();
    }
  });
});

describe('hub database: decisions', () => {
  it('a replayed request is refused, audited, and stays refused after a restart', () => {
    const fx = sqliteIhFixture();
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
    assert.equal(fx.ask(req.bytes, NOW).outcome, 'ticket');
    const inBatch = fx.ask(req.bytes, NOW + 1);
    assert.deepEqual([inBatch.outcome, inBatch.reason, inBatch.reply], ['refused', 'replayed', undefined]);
    fx.commit();
    assert.equal(fx.ask(req.bytes, NOW + 2).reason, 'replayed');
    fx.commit();
    fx.store.close();

    const again = SqliteHubStore.open({ path: fx.path, clock: () => NOW + 3 });
    try {
      const core = stagedHub(again, fx.hub);
      assert.equal(core.ask(req.bytes, NOW + 3).reason, 'replayed');
      core.commit();
      const replays = readAudit(again.db).filter((e) => e.reason === 'replayed');
      assert.equal(replays.length, 3);
      assert.ok(replays.every((e) => e.deviceId === fx.dev.deviceId && e.instance === 'device' && e.ref === requestRef(req.nonce)));
      // The replay did not refresh the instance: its last request is still the one answered.
      assert.equal(fleetView(again.db, NOW).find((r) => r.instance === 'device')?.lastRequestAtMs, NOW);
    } finally {
      again.close();
    }
  });

  it("a hub alone keeps its replay mark at its own rows; a second process's answers are learnt at the next commit", () => {
    const fx = sqliteIhFixture();
    const maxSeq = (db: typeof fx.store.db): number => db.prepare('SELECT max(seq) FROM audit').pluck().get() as number;
    for (let i = 0; i < 20; i++) {
      fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW + i);
      fx.commit();
    }
    // Running alone, it has accounted for every row it wrote: a catch-up would read nothing.
    assert.equal(fx.store.replay.lastSeq, maxSeq(fx.store.db));

    const other = SqliteHubStore.open({ path: fx.path, clock: () => NOW + 100 });
    try {
      const core = stagedHub(other, fx.hub);
      const theirs = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
      assert.equal(core.ask(theirs.bytes, NOW + 100).outcome, 'ticket');
      core.commit();
      // The first process's next commit reads the other's rows: the other's answer is now a replay here.
      fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW + 101);
      fx.commit();
      assert.equal(fx.store.replay.lastSeq, maxSeq(fx.store.db));
      assert.equal(fx.ask(theirs.bytes, NOW + 102).reason, 'replayed');
    } finally {
      other.close();
      fx.store.close();
    }
  });

  it("another process's operator commands take effect at the next request", async () => {
    const fx = sqliteIhFixture();
    const operator = openHubDatabase(fx.path); // a second connection, as "dominion quarantine" would open
    // Each request in its own turn of the event loop, as requests from the network arrive.
    const ask = async (runtime = deviceRuntime(), instance: 'device' | 'mm' = 'device') => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const d = fx.ask(signedRequest(instance === 'device' ? fx.dev.device : fx.dev.mm, fx.dev.deviceId, instance, runtime).bytes, NOW);
      fx.commit();
      return d;
    };
    const withheldReason = (d: Awaited<ReturnType<typeof ask>>) => {
      const reply = openReply(d.reply!.payload, fx.hub.publicKey);
      return reply.outcome.case === 'withheld' ? reply.outcome.value.reason : undefined;
    };
    try {
      assert.equal((await ask()).outcome, 'ticket');
      changeDeviceState(operator, fx.dev.deviceId, 'quarantine', 'incident 7');
      let d = await ask();
      assert.equal(d.reason, 'quarantined');
      assert.equal(withheldReason(d), WithholdReason.QUARANTINED);
      changeDeviceState(operator, fx.dev.deviceId, 'release');
      assert.equal((await ask()).outcome, 'ticket');

      requireInstanceUpdate(operator, fx.dev.deviceId, 'mm', {
        version: 'mm-9',
        imageDigest: digestOf('mm-9'),
        fetchTopic: 'dominion/v1/image/mm/9',
        sizeBytes: 10,
        releaseVersion: 9,
      });
      assert.equal((await ask(MM_OK, 'mm')).outcome, 'update-required');
      assert.equal((await ask(domainRuntime([{ name: 'receiver' }], 'mm-9'), 'mm')).outcome, 'ticket', 'met once the image runs');

      withholdInstance(operator, fx.dev.deviceId, undefined, 'forced recovery');
      d = await ask();
      assert.equal(d.reason, 'operator-withheld');
      assert.equal(withheldReason(d), WithholdReason.OPERATOR);
      fx.store.policy.resume(fx.dev.deviceId);

      setDevicePolicy(operator, fx.dev.deviceId, { default: { deferralMs: 1234 } });
      d = await ask();
      assert.equal(d.outcome, 'ticket');
      const reply = openReply(d.reply!.payload, fx.hub.publicKey);
      assert.equal(reply.outcome.case === 'ticket' && reply.outcome.value.deferralMs, 1234);

      changeDeviceState(operator, fx.dev.deviceId, 'revoke', 'stolen');
      d = await ask();
      assert.equal(withheldReason(d), WithholdReason.REVOKED);
      assert.match(storeError(() => changeDeviceState(operator, fx.dev.deviceId, 'release')).message, /revoked/);

      const ops = readAudit(operator)
        .filter((e) => e.outcome === 'operator')
        .map((e) => e.reason);
      assert.deepEqual(ops, ['policy', 'enrolled', 'quarantine', 'release', 'require-update', 'withhold', 'resume', 'policy', 'revoke']);
      const row = fleetView(operator, NOW).find((r) => r.instance === 'device')!;
      assert.deepEqual([row.deviceState, row.reason], ['revoked', 'stolen']);
    } finally {
      operator.close();
      fx.store.close();
    }
  });

  it('a passed deadline is TIMEOUT when the instance fell silent, FAIL when the hub refused it; recorded once', () => {
    const fx = sqliteIhFixture();
    setDevicePolicy(fx.store.db, fx.dev.deviceId, {
      instances: { device: { deferralMs: 1000 }, mm: { deferralMs: 1000, allowedActors: ['receiver', 'forwarder'] } },
    });
    assert.equal(fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW).outcome, 'ticket');
    assert.equal(fx.ask(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', MM_OK).bytes, NOW).outcome, 'ticket');
    const intruded = domainRuntime([{ name: 'receiver' }, { name: 'miner' }]);
    assert.equal(fx.ask(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', intruded).bytes, NOW + 400).reason, 'foreign-actor');
    fx.commit();
    try {
      assert.deepEqual(fx.store.sweep(NOW + 999), { timeouts: 0, fails: 0 }, 'nothing due yet');
      const live = fleetView(fx.store.db, NOW + 1001);
      assert.deepEqual(
        live.map((r) => [r.instance, r.state]),
        [
          ['device', 'timeout'],
          ['mm', 'fail'],
        ],
        'devices shows it before the sweep',
      );
      assert.deepEqual(fx.store.sweep(NOW + 1001), { timeouts: 1, fails: 1 });
      assert.deepEqual(fx.store.sweep(NOW + 5000), { timeouts: 0, fails: 0 }, 'each deadline is recorded once');
      const verdicts = readAudit(fx.store.db).filter((e) => e.outcome === 'timeout' || e.outcome === 'fail');
      assert.deepEqual(
        verdicts.map((e) => [e.outcome, e.reason, e.instance]),
        [
          ['timeout', 'silent', 'device'],
          ['fail', 'foreign-actor', 'mm'],
        ],
      );
      assert.deepEqual(
        fleetView(fx.store.db, NOW + 5000).map((r) => r.state),
        ['timeout', 'fail'],
      );
      // A new ticket clears the expiry: the next deadline is watched again.
      assert.equal(fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW + 6000).outcome, 'ticket');
      fx.commit();
      assert.deepEqual(
        fleetView(fx.store.db, NOW + 6001).map((r) => r.state),
        ['ok', 'fail'],
      );
      assert.deepEqual(fx.store.sweep(NOW + 7001), { timeouts: 1, fails: 0 });
    } finally {
      fx.store.close();
    }
  });

  it('remembers answered nonces for the replay window, across restarts, and learns those of another hub process', () => {
    const dir = tempDir();
    const path = join(dir, 'w.db');
    const open = () => {
      const store = SqliteHubStore.open({ path, create: true, replayWindowMs: 1000, clock: () => NOW + 1003 });
      const core = stagedHub(store, newSigner());
      return { store, core };
    };
    const a = open();
    const dev = newDevice();
    enrollKeys(a.store.db, dev.deviceId, [{ instance: 'device', publicKey: dev.device.publicKey }]);
    setDevicePolicy(a.store.db, dev.deviceId, { default: { deferralMs: 60_000 } });
    const b = open(); // a second hub process on the same database
    try {
      const first = signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime());
      assert.equal(a.core.ask(first.bytes, NOW).outcome, 'ticket');
      a.core.commit();
      assert.equal(b.core.ask(first.bytes, NOW + 1).reason, 'replayed', "b read a's answer from the audit log");
      b.core.commit();

      const later = signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime());
      assert.equal(a.core.ask(later.bytes, NOW + 1001).outcome, 'ticket');
      a.core.commit();
      assert.equal(a.core.ask(first.bytes, NOW + 1002).outcome, 'ticket', 'past the window a nonce is forgotten');
      a.core.commit();

      a.store.close();
      const c = open(); // restart: loads the window's answers back from the audit log
      try {
        assert.equal(c.core.ask(later.bytes, NOW + 1004).reason, 'replayed');
      } finally {
        c.store.close();
      }
    } finally {
      a.store.close();
      b.store.close();
    }
  });
});
