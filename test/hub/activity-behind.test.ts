// Activity written behind (actors/hub/sqlite/activity-buffer.ts): held after the batch committed,
// written at the flush, never moved back, and folded back from the audit after a kill.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import { HubCore, IH_ROLE, SqliteHub } from '../../actors/hub/index.ts';
import { enrollKeys, setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { deviceRuntime, hubOn, ihDatabaseFile, newDevice, newSigner, signedRequest, tempDir, type DeviceKeys } from './fixtures.ts';

const NOW = 1_764_028_800_000;
const DEFERRAL_MS = 60_000;
const FLUSH_MS = 5_000;

interface ActivityRow {
  last_request_at_ms: number;
  last_outcome: string;
  last_ticket_at_ms: number | null;
  deadline_ms: number | null;
  expired: number;
  state: string | null;
}

function open(path: string, activityFlushMs: number, nowMs = NOW): SqliteHubStore {
  return SqliteHubStore.open({ path, create: true, identity: { hubId: 'ih-behind', role: IH_ROLE }, activityFlushMs, clock: () => nowMs });
}

function setUp(activityFlushMs = FLUSH_MS): { path: string; store: SqliteHubStore; core: HubCore; dev: DeviceKeys } {
  const path = join(tempDir(), 'ih.db');
  const store = open(path, activityFlushMs);
  setFleetPolicy(store.db, { default: { deferralMs: DEFERRAL_MS } });
  const dev = newDevice();
  enrollKeys(store.db, dev.deviceId, [{ instance: 'device', publicKey: dev.device.publicKey }]);
  return { path, store, core: new HubCore({ role: IH_ROLE, signer: newSigner(), store }), dev };
}

function ask(core: HubCore, dev: DeviceKeys, nowMs: number): string {
  const d = core.handleRequest(signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime()).bytes, nowMs);
  return d.outcome;
}

function activity(store: SqliteHubStore, deviceId: string): ActivityRow | undefined {
  return store.db
    .prepare(
      "SELECT last_request_at_ms, last_outcome, last_ticket_at_ms, deadline_ms, expired, state FROM instance_activity WHERE device_id = ? AND instance = 'device'",
    )
    .get(deviceId) as ActivityRow | undefined;
}

function ticketRows(store: SqliteHubStore, deviceId: string): number {
  return store.db.prepare("SELECT count(*) FROM audit WHERE device_id = ? AND outcome = 'ticket'").pluck().get(deviceId) as number;
}

describe('activity written behind', () => {
  it('commits the audit row with the batch, and the activity only at the flush', () => {
    const { store, core, dev } = setUp();
    assert.equal(ask(core, dev, NOW), 'ticket');
    assert.equal(ticketRows(store, dev.deviceId), 1, 'the answer is durable at once');
    assert.equal(activity(store, dev.deviceId), undefined, 'the activity waits in memory');
    assert.equal(store.journal.activity.size, 1);
    assert.equal(store.flushActivity(), 1);
    assert.deepEqual(activity(store, dev.deviceId), {
      last_request_at_ms: NOW,
      last_outcome: 'ticket',
      last_ticket_at_ms: NOW,
      deadline_ms: NOW + DEFERRAL_MS,
      expired: 0,
      state: 'ok',
    });
    assert.equal(store.journal.activity.size, 0);
    store.close();
  });

  it('holds one write per instance across batches: the latest request and ticket', () => {
    const { store, core, dev } = setUp();
    for (let i = 0; i < 5; i++) assert.equal(ask(core, dev, NOW + i * 1000), 'ticket');
    assert.equal(store.journal.activity.size, 1);
    store.flushActivity();
    assert.equal(activity(store, dev.deviceId)?.last_ticket_at_ms, NOW + 4000);
    assert.equal(activity(store, dev.deviceId)?.deadline_ms, NOW + 4000 + DEFERRAL_MS);
    store.close();
  });

  it('never moves a row back: an older write flushed after a newer one (another process) changes nothing', () => {
    const { path, store, core, dev } = setUp();
    const other = open(path, FLUSH_MS);
    const otherCore = new HubCore({ role: IH_ROLE, signer: newSigner(), store: other });
    assert.equal(ask(core, dev, NOW), 'ticket'); // older, held by the first process
    assert.equal(ask(otherCore, dev, NOW + 20_000), 'ticket'); // newer, held by the second
    other.flushActivity();
    store.flushActivity();
    assert.equal(activity(store, dev.deviceId)?.last_request_at_ms, NOW + 20_000);
    assert.equal(activity(store, dev.deviceId)?.deadline_ms, NOW + 20_000 + DEFERRAL_MS);
    other.close();
    store.close();
  });

  it('records a deadline as passed only two flush intervals late (a newer one may still be held)', () => {
    const { store, core, dev } = setUp();
    ask(core, dev, NOW);
    store.flushActivity();
    const deadline = NOW + DEFERRAL_MS;
    assert.deepEqual(store.sweep(deadline + 2 * FLUSH_MS - 1), { timeouts: 0, fails: 0 });
    assert.equal(activity(store, dev.deviceId)?.expired, 0);
    assert.deepEqual(store.sweep(deadline + 2 * FLUSH_MS + 1), { timeouts: 1, fails: 0 });
    assert.equal(activity(store, dev.deviceId)?.state, 'timeout');
    store.close();
  });

  it('a process killed with activity held: the next start folds it back from the audit', () => {
    const { path, store, core, dev } = setUp();
    ask(core, dev, NOW);
    ask(core, dev, NOW + 20_000);
    assert.equal(activity(store, dev.deviceId), undefined);
    // A kill: the held writes are gone with the process; the database keeps only what committed.
    // (A second connection opens while the first still holds them, as a restarted process would.)
    const restarted = open(path, FLUSH_MS, NOW + 30_000);
    assert.deepEqual(activity(restarted, dev.deviceId), {
      last_request_at_ms: NOW + 20_000,
      last_outcome: 'ticket',
      last_ticket_at_ms: NOW + 20_000,
      deadline_ms: NOW + 20_000 + DEFERRAL_MS,
      expired: 0,
      state: 'ok',
    });
    restarted.close();
    store.db.close();
  });

  it('close writes what is held', () => {
    const { path, store, core, dev } = setUp();
    ask(core, dev, NOW);
    store.close();
    const again = open(path, 0);
    assert.equal(activity(again, dev.deviceId)?.last_ticket_at_ms, NOW);
    again.close();
  });

  it('with flushMs 0 the activity is written with the batch, as before', () => {
    const { store, core, dev } = setUp(0);
    ask(core, dev, NOW);
    assert.equal(activity(store, dev.deviceId)?.last_ticket_at_ms, NOW);
    assert.equal(store.journal.activity.size, 0);
    store.close();
  });

  it('flushes failing commitFailureLimit times in a row make the hub not ready; fewer do not', async (t) => {
    const { hub, ask, failWrites } = await hubWithHeldActivity(t, 3);
    const problems: string[] = [];
    hub.onNotReady((p) => problems.push(p));
    assert.equal(ask(NOW), 'ticket');
    failWrites(true);
    hub.flushActivity();
    hub.flushActivity();
    assert.equal(hub.status().ready, true, 'two failures: still answering, the writes held');
    assert.equal(hub.stats().activity.held, 1);
    assert.equal(hub.stats().activity.failures, 2);
    hub.flushActivity();
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /writing held activity failed 3 times in a row \(.*simulated disk failure/);
    assert.equal(hub.status().ready, false);
    assert.match(hub.status().problem ?? '', /held activity/);
  });

  it('a failure in between resets the count: only failures in a row make the hub not ready', async (t) => {
    const { hub, ask, failWrites } = await hubWithHeldActivity(t, 2);
    assert.equal(ask(NOW), 'ticket');
    failWrites(true);
    hub.flushActivity();
    assert.equal(hub.store.journal.activity.failuresInRow, 1);
    failWrites(false);
    hub.flushActivity();
    assert.equal(hub.store.journal.activity.failuresInRow, 0);
    assert.equal(hub.stats().activity.held, 0, 'the held write reached the table');
    assert.equal(ask(NOW + 1000), 'ticket');
    failWrites(true);
    hub.flushActivity();
    assert.equal(hub.status().ready, true, 'one failure since the last success, under the limit of 2');
  });
});

/**
 * A running hub (embedded broker) on a one-device database whose activity is flushed by hand; `ask`
 * decides and commits one request of that device; `failWrites(true)` makes every activity write fail,
 * as a failing disk would (a trigger, from another connection), while the audit still takes rows.
 */
async function hubWithHeldActivity(
  t: TestContext,
  commitFailureLimit: number,
): Promise<{ hub: SqliteHub; ask: (nowMs: number) => string; failWrites: (on: boolean) => void }> {
  const db = ihDatabaseFile(1);
  const broker = await startEmbeddedBroker();
  const hub = await SqliteHub.start({
    ...hubOn(db, broker.url),
    activityFlushMs: 3_600_000,
    integrityCheckIntervalMs: 0,
    commitFailureLimit,
  });
  t.after(async () => {
    await hub.stop(); // a last flush that fails on the trigger loses those writes, as a kill would
    await broker.close();
  });
  const d = db.devices[0]!;
  return {
    hub,
    ask: (nowMs) => hub.core.handleRequest(signedRequest(d.device, d.deviceId, 'device', deviceRuntime()).bytes, nowMs).outcome,
    failWrites(on) {
      const other = new Database(db.path);
      other.exec(
        on
          ? "CREATE TRIGGER activity_fails BEFORE INSERT ON instance_activity BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END"
          : 'DROP TRIGGER activity_fails',
      );
      other.close();
    },
  };
}
