import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { HubCore, IH_ROLE, PendingBatch } from '../../../actors/hub/index.ts';
import { pgChangeDeviceState, pgEnrollKeys, PgHubStore } from '../../../actors/hub/postgres/index.ts';
import { deviceRuntime, newDevice, newSigner, signedRequest } from '../fixtures.ts';
import { changeApplied, freshSchema, keyIdOf, needDatabase, pgIhFixture } from './pg-fixture.ts';

async function auditRows(
  store: PgHubStore,
): Promise<Array<{ outcome: string; reason: string; ref: string | null; device_id: string | null }>> {
  return (await store.pool.query('SELECT outcome, reason, ref, device_id FROM audit WHERE outcome <> $1 ORDER BY seq', ['operator'])).rows;
}

describe('PgHubStore', () => {
  it('a missing schema is a clear error; an unreachable server names its host', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const schema = await freshSchema(t, url);
    await assert.rejects(PgHubStore.open({ url, schema }), /no dominion hub schema here.*--init/);
    await assert.rejects(
      PgHubStore.open({ url: 'postgres://postgres@127.0.0.1:1/none', connectTimeoutMs: 2000 }),
      /PostgreSQL at 127\.0\.0\.1:1\/none: cannot connect/,
    );
  });

  it('commits a batch in one transaction: every answered decision has its audit row and activity', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store: fx.store });
    const batch = new PendingBatch();
    const refs: string[] = [];
    for (let i = 0; i < 20; i++) {
      const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
      const { decision } = core.handle(req.bytes, 1_000 + i, batch);
      assert.equal(decision.outcome, 'ticket');
      refs.push(Buffer.from(req.nonce.subarray(0, 8)).toString('hex'));
    }
    const result = await fx.store.commitAsync(batch.take().map((d) => d.effects));
    assert.equal(result.replayed.size, 0);
    const rows = await auditRows(fx.store);
    assert.deepEqual(
      rows.map((r) => r.ref),
      refs,
    );
    const act = await fx.store.pool.query('SELECT last_outcome, deadline_ms FROM instance_activity WHERE device_id = $1', [
      fx.dev.deviceId,
    ]);
    assert.equal(act.rows[0].last_outcome, 'ticket');
    assert.equal(act.rows[0].deadline_ms, 1_019 + 45_500);
  });

  it('the same request decided by two workers: one answer, one replayed audit row', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const { fx, other, a, b } = await twoWorkers(t, url);
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
    const da = a.handle(req.bytes, 5_000);
    const db = b.handle(req.bytes, 5_001);
    assert.equal(da.decision.outcome, 'ticket');
    assert.equal(db.decision.outcome, 'ticket', 'worker b has not seen the nonce: it decides to answer');
    assert.equal((await fx.store.commitAsync([da.effects])).replayed.size, 0);
    assert.deepEqual([...(await other.commitAsync([db.effects])).replayed], [0], "b's reply must not go out");
    const rows = await auditRows(fx.store);
    assert.deepEqual(
      rows.map((r) => `${r.outcome}/${r.reason}`),
      ['ticket/granted', 'refused/replayed'],
    );
    // A worker started later reads every worker's answered nonces of the window.
    const third = await fx.worker({ clock: () => 6_000 });
    assert.equal(third.view.seen(fx.dev.deviceId, 'device', req.nonce), true, 'a new worker loads the window');
  });

  it('a batch whose reports the worker has seen commits in one statement: nonces, audit rows and activity', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store: fx.store });
    const ask = (at: number): { effects: Parameters<PgHubStore['commitAsync']>[0][number]; nonce: Uint8Array } => {
      const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
      const d = core.handle(req.bytes, at);
      assert.equal(d.decision.outcome, 'ticket');
      return { effects: d.effects, nonce: req.nonce };
    };
    await fx.store.commitAsync([ask(1_000).effects]); // the report is new to this worker: the transaction
    assert.equal(fx.store.journal.stats().oneStatement, 0);
    const later = [ask(2_000), ask(3_000)];
    assert.equal((await fx.store.commitAsync(later.map((x) => x.effects))).replayed.size, 0);
    assert.equal(fx.store.journal.stats().oneStatement, 1, 'the same report again: one statement');
    assert.equal((await auditRows(fx.store)).length, 3);
    const act = await fx.store.pool.query('SELECT last_request_at_ms, deadline_ms FROM instance_activity WHERE device_id = $1', [
      fx.dev.deviceId,
    ]);
    assert.deepEqual(act.rows[0], { last_request_at_ms: 3_000, deadline_ms: 3_000 + 45_500 });
    const third = await fx.worker({ clock: () => 4_000 });
    for (const x of later) assert.equal(third.view.seen(fx.dev.deviceId, 'device', x.nonce), true, 'its nonces are committed');
  });

  it('one statement that meets a nonce another worker answered keeps nothing; the transaction records the replay', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const { fx, other, a, b } = await twoWorkers(t, url);
    // Both workers see the device's report once, so their next batches fit one statement.
    for (const [core, store, at] of [
      [a, fx.store, 1_000],
      [b, other, 1_001],
    ] as const) {
      const warm = core.handle(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, at);
      await store.commitAsync([warm.effects]);
    }
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
    const fresh = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
    const da = a.handle(req.bytes, 5_000);
    const db = [b.handle(fresh.bytes, 5_001), b.handle(req.bytes, 5_002)];
    assert.equal((await fx.store.commitAsync([da.effects])).replayed.size, 0);
    assert.equal(fx.store.journal.stats().oneStatement, 1);
    assert.deepEqual([...(await other.commitAsync(db.map((d) => d.effects))).replayed], [1], "b's second reply must not go out");
    assert.equal(other.journal.stats().oneStatementReplays, 1, 'the one statement aborted');
    assert.deepEqual(
      (await auditRows(fx.store)).map((r) => `${r.outcome}/${r.reason}`),
      ['ticket/granted', 'ticket/granted', 'ticket/granted', 'ticket/granted', 'refused/replayed'],
      'no row of the aborted statement is left',
    );
    const act = await fx.store.pool.query('SELECT last_request_at_ms FROM instance_activity WHERE device_id = $1', [fx.dev.deviceId]);
    assert.equal(act.rows[0].last_request_at_ms, 5_001, "the replayed request's activity was not written");
    const nonces = await fx.store.pool.query('SELECT count(*)::int AS n FROM answered_nonce WHERE device_id = $1', [fx.dev.deviceId]);
    assert.equal(nonces.rows[0].n, 4, 'each nonce once');
  });

  it('the safety net reads the operator state again only when config_version moved, and then sees a change NOTIFY missed', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url, { reloadMs: 3_600_000 }); // ticks by hand below
    await fx.store.snapshot.reloadIfChanged(); // the fixture enrolled after the worker's first read
    const whole = fx.store.snapshot.reloads;
    assert.equal(await fx.store.snapshot.reloadIfChanged(), false, 'nothing changed since');
    assert.equal(fx.store.snapshot.reloads, whole);
    // A change that sends no NOTIFY (a hand-written statement): only the version says so.
    await fx.store.pool.query("UPDATE device SET state = 'quarantined' WHERE device_id = $1", [fx.dev.deviceId]);
    assert.equal(fx.store.view.deviceState(fx.dev.deviceId), 'active', 'no NOTIFY: the worker has not seen it yet');
    assert.equal(await fx.store.snapshot.reloadIfChanged(), true);
    assert.equal(fx.store.snapshot.reloads, whole + 1);
    assert.equal(fx.store.view.deviceState(fx.dev.deviceId), 'quarantined');
    assert.equal(await fx.store.snapshot.reloadIfChanged(), false, 'read once per change');
    // The ticket path writes none of the operator tables: answering moves nothing.
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store: fx.store });
    const d = core.handle(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, 7_000);
    await fx.store.commitAsync([d.effects]);
    assert.equal(await fx.store.snapshot.reloadIfChanged(), false);
  });

  it("a device's new key replaces its old one in every worker's snapshot; its other instance's key stays", async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const other = await fx.worker();
    const rotated = newDevice(fx.dev.deviceId).device;
    const oldId = keyIdOf(fx.dev.device.publicKey);
    const newId = keyIdOf(rotated.publicKey);
    assert.notEqual(other.view.keyById(oldId), undefined);
    const applied = changeApplied(other, () => other.view.keyById(newId) !== undefined, 'the new key');
    await pgEnrollKeys(fx.store.pool, fx.dev.deviceId, [{ instance: 'device', publicKey: rotated.publicKey }]);
    await applied;
    assert.equal(other.view.keyById(oldId), undefined, 'the old key is gone');
    assert.equal(other.view.keyById(keyIdOf(fx.dev.mm.publicKey))?.instance, 'mm', "the mm key is the device's still");
  });

  it('a quarantine reaches another worker within a second (NOTIFY)', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const other = await fx.worker();
    assert.equal(other.view.deviceState(fx.dev.deviceId), 'active');
    const seen = changeApplied(other, () => other.view.deviceState(fx.dev.deviceId) === 'quarantined', 'quarantine on worker 2');
    await pgChangeDeviceState(fx.store.pool, fx.dev.deviceId, 'quarantine', 'test');
    await seen;
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store: other });
    const d = core.handle(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, 9_000);
    assert.notEqual(d.decision.outcome, 'ticket');
  });

  it('TIMEOUT vs FAIL are recorded once across two sweeping workers', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const other = await fx.worker();
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store: fx.store });
    // device: a ticket, then silence (TIMEOUT); mm: a ticket, then a refused request (FAIL).
    const d1 = core.handle(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, 10_000);
    const m1 = core.handle(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', deviceRuntime()).bytes, 10_000);
    await fx.store.commitAsync([d1.effects, m1.effects]);
    await fx.store.pool.query(
      "UPDATE instance_activity SET last_request_at_ms = 20000, last_outcome = 'refused', last_reason = 'quarantine' WHERE instance = 'mm'",
    );
    const mmTicket = m1.decision.outcome === 'ticket';
    const [ra, rb] = await Promise.all([fx.store.sweep(1_000_000), other.sweep(1_000_000)]);
    assert.equal(ra.timeouts + rb.timeouts, 1);
    assert.equal(ra.fails + rb.fails, mmTicket ? 1 : 0);
    const again = await fx.store.sweep(2_000_000);
    assert.deepEqual(again, { timeouts: 0, fails: 0 });
    const rows = (await auditRows(fx.store)).filter((r) => r.outcome === 'timeout' || r.outcome === 'fail');
    assert.equal(rows.length, mmTicket ? 2 : 1);
  });
});

/** Two workers of one hub on one fresh schema, each with its decision core (one hub key). */
async function twoWorkers(
  t: TestContext,
  url: string,
): Promise<{ fx: Awaited<ReturnType<typeof pgIhFixture>>; other: PgHubStore; a: HubCore; b: HubCore }> {
  const fx = await pgIhFixture(t, url);
  const other = await fx.worker();
  const hub = newSigner();
  return {
    fx,
    other,
    a: new HubCore({ role: IH_ROLE, signer: hub, store: fx.store }),
    b: new HubCore({ role: IH_ROLE, signer: hub, store: other }),
  };
}
