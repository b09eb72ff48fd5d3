/**
 * The device history (actors/hub/sqlite/history.ts) and refusal counts (refusals.ts), through the
 * hub's own write path: decisions collected in a batch and committed, as the server does. One row
 * per reported boot or change, none for a repeated report (across restarts and hub processes too),
 * a bound per device instance under a flood, hostile numbers dropped, a failed commit forgetting
 * what it staged; `fleetView` shows the latest reports and the refusals.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { randomNonce } from '../../actors/crypto/index.ts';
import {
  fleetView,
  HISTORY_KEEP,
  migrate,
  openHubDatabase,
  readAudit,
  readHistory,
  SqliteHubStore,
  type HistoryEntry,
} from '../../actors/hub/sqlite/index.ts';
import { ResetReason, type Instance } from '../../proto/index.ts';
import { bootRequest, type BootInit } from './exchanges.ts';
import {
  digestOf,
  domainRuntime,
  signedRequest,
  sqliteIhFixture,
  stagedHub,
  tempDir,
  type RuntimeInit,
  type SqliteFixture,
} from './fixtures.ts';

const T0 = 1_764_028_800_000;

/** A DeviceState report, as sw sends it with every device ticket request. */
function deviceReport(bootCount: bigint, reason: ResetReason, firmwareVersion = '2.1.0', sw = 5n): RuntimeInit {
  return {
    report: {
      case: 'device',
      value: {
        bootCount,
        lastResetReason: reason,
        firmwareVersion,
        manifestDigest: digestOf('manifest'),
        slots: [
          { label: 'sw', version: sw, slot: 'a' },
          { label: 'hypervisor', version: 5n, slot: 'a' },
        ],
      },
    },
  };
}

function ticket(fx: SqliteFixture, runtime: RuntimeInit, atMs: number, instance: Instance = 'device'): void {
  const signer = instance === 'device' ? fx.dev.device : fx.dev.mm;
  const d = fx.ask(signedRequest(signer, fx.dev.deviceId, instance, runtime).bytes, atMs);
  assert.notEqual(d.outcome, 'refused', `${d.outcome} ${d.reason}`);
}

function boot(fx: SqliteFixture, bootCount: bigint, atMs: number, firmwareVersion = '2.1.0'): void {
  const init: BootInit = {
    deviceId: fx.dev.deviceId,
    bootNonce: randomNonce(32),
    manifestDigest: digestOf('manifest'),
    firmwareVersion,
    bootCount,
    images: [
      { label: 'sw', version: 5n, digest: digestOf('sw 5') },
      { label: 'hypervisor', version: 5n, digest: digestOf('hypervisor 5') },
      { label: 'mm', version: 2n, digest: digestOf('mm 2') },
    ],
  };
  assert.equal(fx.ask(bootRequest(fx.dev.device, init), atMs).outcome, 'boot-granted');
}

function history(fx: SqliteFixture): HistoryEntry[] {
  return readHistory(fx.store.db, { deviceId: fx.dev.deviceId });
}

const brief = (e: HistoryEntry): string =>
  [e.instance, e.source, e.bootCount ?? '-', e.resetReason ?? '-', e.firmwareVersion ?? '-', e.images ?? '-'].join(' ');

describe('device history', () => {
  it('one row per reported boot or change, none for repeated reports; boot requests and runtime reports apart', () => {
    const fx = sqliteIhFixture();
    try {
      boot(fx, 7n, T0);
      ticket(fx, deviceReport(7n, ResetReason.POWER_ON), T0 + 1000);
      ticket(fx, deviceReport(7n, ResetReason.POWER_ON), T0 + 2000); // the same boot, asked again
      fx.commit();
      ticket(fx, deviceReport(7n, ResetReason.POWER_ON), T0 + 3000); // and again, in a later batch
      fx.commit();
      boot(fx, 7n, T0 + 3500); // sw asks again for the same boot (a lost reply)
      boot(fx, 8n, T0 + 4000, '2.2.0');
      ticket(fx, deviceReport(8n, ResetReason.TICKET_WITHHELD, '2.2.0'), T0 + 5000);
      ticket(fx, deviceReport(8n, ResetReason.TICKET_WITHHELD, '2.2.0', 6n), T0 + 6000); // sw updated in place
      fx.commit();
      assert.deepEqual(history(fx).map(brief), [
        'device boot-request 7 - 2.1.0 sw 5, hypervisor 5, mm 2',
        'device runtime 7 power-on 2.1.0 sw 5, hypervisor 5',
        'device boot-request 8 - 2.2.0 sw 5, hypervisor 5, mm 2',
        'device runtime 8 ticket-withheld 2.2.0 sw 5, hypervisor 5',
        'device runtime 8 ticket-withheld 2.2.0 sw 6, hypervisor 5',
      ]);
      const rows = history(fx);
      assert.deepEqual(
        rows.map((e) => e.atMs),
        [T0, T0 + 1000, T0 + 4000, T0 + 5000, T0 + 6000],
      );
      assert.ok(rows.every((e) => e.hubId === 'ih-test'));
      // The domain reports of mm: its boots since the device booted.
      ticket(fx, domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }]), T0 + 7000, 'mm');
      ticket(fx, domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }]), T0 + 8000, 'mm');
      fx.commit();
      assert.deepEqual(
        history(fx)
          .filter((e) => e.instance === 'mm')
          .map(brief),
        ['mm runtime 1 - - -'],
      );
      // devices: the latest of each value, per instance.
      const [device, mm] = fleetView(fx.store.db, T0 + 9000);
      assert.deepEqual(device!.reported, { bootCount: 8, resetReason: 'ticket-withheld', firmwareVersion: '2.2.0' });
      assert.deepEqual(mm!.reported, { bootCount: 1 });
    } finally {
      fx.store.close();
    }
  });

  it('a restart, or a second hub process on the database, records a repeated report once', () => {
    const fx = sqliteIhFixture();
    ticket(fx, deviceReport(3n, ResetReason.UPDATE), T0);
    fx.commit();
    const other = SqliteHubStore.open({ path: fx.path });
    try {
      const hub2 = stagedHub(other, fx.hub);
      hub2.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceReport(3n, ResetReason.UPDATE)).bytes, T0 + 1000);
      hub2.commit();
      assert.equal(history(fx).length, 1, 'the other process found the row in the table');
      hub2.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceReport(4n, ResetReason.OPERATOR)).bytes, T0 + 2000);
      hub2.commit();
      // The first process has 3 in memory; the table says 4: a report of 4 is not new.
      ticket(fx, deviceReport(4n, ResetReason.OPERATOR), T0 + 3000);
      fx.commit();
      assert.deepEqual(
        history(fx).map((e) => [e.bootCount, e.resetReason]),
        [
          [3, 'update'],
          [4, 'operator'],
        ],
      );
    } finally {
      other.close();
      fx.store.close();
    }
    const reopened = SqliteHubStore.open({ path: fx.path });
    try {
      const hub3 = stagedHub(reopened, fx.hub);
      hub3.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceReport(4n, ResetReason.OPERATOR)).bytes, T0 + 4000);
      hub3.commit();
      assert.equal(readHistory(reopened.db, { deviceId: fx.dev.deviceId }).length, 2, 'nothing new after a restart');
    } finally {
      reopened.close();
    }
  });

  it('keeps the newest rows per device instance under a flood of boots; another instance keeps its own', () => {
    const fx = sqliteIhFixture();
    try {
      ticket(fx, domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }]), T0, 'mm');
      fx.commit();
      const flood = HISTORY_KEEP * 2 + 37;
      for (let n = 1; n <= flood; n++) {
        ticket(fx, deviceReport(BigInt(n), ResetReason.TICKET_TIMEOUT), T0 + n);
        if (n % 50 === 0 || n > flood - 3) fx.commit(); // batches of 50, then of 1
      }
      const rows = history(fx);
      const device = rows.filter((e) => e.instance === 'device');
      assert.equal(device.length, HISTORY_KEEP);
      assert.equal(device[device.length - 1]!.bootCount, flood, 'the newest kept');
      assert.equal(device[0]!.bootCount, flood - HISTORY_KEEP + 1);
      assert.equal(rows.filter((e) => e.instance === 'mm').length, 1, "the device's flood does not push out mm's rows");
      const total = fx.store.db.prepare('SELECT count(*) FROM device_history').pluck().get();
      assert.equal(total, HISTORY_KEEP + 1);
    } finally {
      fx.store.close();
    }
  });

  it('drops a boot count no number holds exactly, and still commits', () => {
    const fx = sqliteIhFixture();
    try {
      ticket(fx, deviceReport(2n ** 64n - 1n, ResetReason.CHECK_FAILED), T0);
      ticket(fx, deviceReport(2n ** 53n, ResetReason.CHECK_FAILED), T0 + 1); // the same report: neither is exact
      boot(fx, 2n ** 63n, T0 + 2);
      fx.commit();
      assert.deepEqual(history(fx).map(brief), [
        'device runtime - check-failed 2.1.0 sw 5, hypervisor 5',
        'device boot-request - - 2.1.0 sw 5, hypervisor 5, mm 2',
      ]);
      ticket(fx, deviceReport(2n ** 53n - 1n, ResetReason.CHECK_FAILED), T0 + 3);
      fx.commit();
      assert.equal(history(fx).at(-1)!.bootCount, Number.MAX_SAFE_INTEGER);
    } finally {
      fx.store.close();
    }
  });

  it('a failed commit forgets what it staged: the same report is recorded by the next commit', () => {
    const fx = sqliteIhFixture();
    try {
      fx.store.db.exec("CREATE TEMP TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END");
      ticket(fx, deviceReport(9n, ResetReason.POWER_ON), T0);
      assert.throws(() => fx.commit(), /disk full/);
      assert.equal(history(fx).length, 0);
      fx.store.db.exec('DROP TRIGGER refuse_audit');
      ticket(fx, deviceReport(9n, ResetReason.POWER_ON), T0 + 1000);
      fx.commit();
      assert.deepEqual(
        history(fx).map((e) => [e.atMs, e.bootCount]),
        [[T0 + 1000, 9]],
      );
    } finally {
      fx.store.close();
    }
  });

  it('counts refused requests per enrolled device with the audit rows; devices shows them on the first row', () => {
    const fx = sqliteIhFixture();
    try {
      const request = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceReport(1n, ResetReason.POWER_ON));
      assert.equal(fx.ask(request.bytes, T0).outcome, 'ticket');
      fx.commit();
      assert.equal(fx.ask(request.bytes, T0 + 1000).reason, 'replayed');
      assert.equal(fx.ask(request.bytes, T0 + 2000).reason, 'replayed');
      // The mm key signing a request for the device instance: refused, attributed to the device.
      const wrong = signedRequest(fx.dev.mm, fx.dev.deviceId, 'device', deviceReport(1n, ResetReason.POWER_ON));
      assert.equal(fx.ask(wrong.bytes, T0 + 3000).reason, 'key-instance-mismatch');
      fx.commit();
      const refusedRows = readAudit(fx.store.db, { outcomes: ['refused'], deviceId: fx.dev.deviceId });
      assert.equal(refusedRows.length, 3);
      const [device, mm] = fleetView(fx.store.db, T0 + 4000);
      assert.deepEqual(device!.refused, { count: 3, lastAtMs: T0 + 3000, lastReason: 'key-instance-mismatch' });
      assert.equal(mm!.refused, undefined, 'once per device');
      assert.equal(fx.store.db.prepare('SELECT count(*) FROM device_refusal').pluck().get(), 1);
    } finally {
      fx.store.close();
    }
  });

  it('a database from before the history gets its latest boots and kept refusals at migration', () => {
    const path = join(tempDir(), 'v6.db');
    const db = new Database(path);
    migrate(db, 6);
    db.prepare("INSERT INTO meta (key, value) VALUES ('hub_id', 'ih-old')").run();
    db.prepare("INSERT INTO device (device_id, enrolled_at_ms, updated_at_ms) VALUES ('old-1', 0, 0)").run();
    db.prepare(
      `INSERT INTO device_boot (device_id, at_ms, boot_count, firmware_version, manifest_digest, images, outcome, reason)
       VALUES ('old-1', 500, 41, '1.0.0', x'00', '[{"label":"sw","version":3,"digest":"ab"},{"label":"mm","digest":"cd"}]', 'boot-granted', 'granted')`,
    ).run();
    const audit = db.prepare("INSERT INTO audit (at_ms, outcome, reason, device_id) VALUES (?, 'refused', ?, ?)");
    audit.run(100, 'replayed', 'old-1');
    audit.run(200, 'bad-signature', 'old-1');
    audit.run(300, 'replayed', 'not-enrolled');
    db.close();
    const migrated = openHubDatabase(path);
    try {
      assert.deepEqual(readHistory(migrated, { deviceId: 'old-1' }), [
        {
          seq: 1,
          deviceId: 'old-1',
          instance: 'device',
          atMs: 500,
          hubId: 'ih-old',
          source: 'boot-request',
          bootCount: 41,
          firmwareVersion: '1.0.0',
          images: 'sw 3, mm ?',
        },
      ]);
      assert.deepEqual(migrated.prepare('SELECT * FROM device_refusal').all(), [
        { device_id: 'old-1', count: 2, last_at_ms: 200, last_reason: 'bad-signature' },
      ]);
    } finally {
      migrated.close();
    }
  });
});
