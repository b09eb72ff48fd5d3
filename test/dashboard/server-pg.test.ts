/**
 * The dashboard on a PostgreSQL hub (docs/ARCHITECTURE.md §7.6), over real HTTP: a SQLite hub with
 * a device that asked for a ticket, five more enrolled devices (one quarantined) and a published
 * release, moved to a fresh schema by `dominion db migrate`; then the read API, the actions (audited
 * as `dominion quarantine --db postgres://…` audits), require-update on PostgreSQL, and the event
 * stream naming devices that another connection (the CLI's function, a PgHubStore's decision) changed.
 * Skipped without DATABASE_URL; each test has a schema of its own, named in the URL's search_path.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomNonce } from '../../actors/crypto/index.ts';
import { HubCore, IH_ROLE, PendingBatch } from '../../actors/hub/index.ts';
import { openPool, pgChangeDeviceState, pgReadAudit, PgHubStore, type PgPool } from '../../actors/hub/postgres/index.ts';
import { changeDeviceState, enrollKeys, publishArtifacts } from '../../actors/hub/sqlite/index.ts';
import { dbCommand } from '../../cli/db.ts';
import { stateCommand } from '../../cli/operator.ts';
import type { CliIo } from '../../cli/options.ts';
import { Dashboard, loopbackHosts, openSources, startDashboard } from '../../dashboard/index.ts';
import { ResetReason } from '../../proto/index.ts';
import { ManualClock } from '../../runtime/index.ts';
import {
  deviceRuntime,
  digestOf,
  domainRuntime,
  newDevice,
  newSigner,
  signedRequest,
  sqliteIhFixture,
  tempDir,
  type DeviceKeys,
} from '../hub/fixtures.ts';
import { bootRequest } from '../hub/exchanges.ts';
import { freshSchema, needDatabase, schemaUrl } from '../hub/postgres/pg-fixture.ts';
import { newReleaseKey, writeArtifacts } from '../hub/release-fixture.ts';
import { assertOneTicketDevice, call, EXTRA, openEvents, T0, TOKEN } from './server-fixture.ts';

const JSON_TYPE = { 'Content-Type': 'application/json' };

/** The database URL with the test's schema as its search_path: what an operator passes to --db. */

function captureIo(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => void lines.push(l), err: (l) => void lines.push(l) };
}

interface PgDash {
  readonly url: string;
  readonly dev: DeviceKeys;
  readonly dash: Dashboard;
  readonly clock: ManualClock;
  readonly base: string;
  /** Another connection to the hub's schema (the CLI's, a worker's). */
  readonly pool: PgPool;
}

/** A migrated hub schema (as the file comment says) and a dashboard on it, polled by the test. */
async function pgDash(t: TestContext, o: { token?: string } = {}): Promise<PgDash | undefined> {
  const base = needDatabase(t);
  if (base === undefined) return undefined;
  const url = schemaUrl(base, await freshSchema(t, base));
  const dir = tempDir('dominion-dash-pg-');
  const fx = sqliteIhFixture(dir);
  for (const id of EXTRA)
    enrollKeys(fx.store.db, id, [{ instance: 'device', publicKey: newDevice(id).device.publicKey }], { nowMs: T0 - 60_000 });
  changeDeviceState(fx.store.db, 'quiet-03', 'quarantine', 'suspicious', T0 - 30_000);
  const key = newReleaseKey();
  publishArtifacts(fx.store.db, writeArtifacts(dir, { key, version: 7 }).dir, { releasePub: key.publicKey });
  fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, T0);
  fx.commit();
  fx.store.close();
  const io = captureIo();
  assert.equal(await dbCommand(['migrate', '--from', fx.path, '--to', url, '--init'], io), 0, io.lines.join('\n'));

  const clock = new ManualClock(T0 + 1000);
  const dash = await Dashboard.start({
    sources: await openSources([url]),
    ...(o.token !== undefined ? { token: o.token } : {}),
    clock,
    autoPoll: false,
  });
  t.after(() => dash.close());
  const address = await dash.listen('127.0.0.1', 0, loopbackHosts);
  const pool = await openPool({ url, max: 2 });
  t.after(() => pool.end());
  return { url, dev: fx.dev, dash, clock, base: `http://127.0.0.1:${address.port}`, pool };
}

const ids = (rows: Array<{ deviceId: string }>): string[] => rows.map((r) => r.deviceId);

describe('dashboard on PostgreSQL', () => {
  it('summary counts, device paging both ways, search, state filter and sorts', async (t) => {
    const d = await pgDash(t);
    if (d === undefined) return;
    const all = [d.dev.deviceId, ...EXTRA].sort();
    const summary = (await call(d.base, '/api/summary')).json();
    assert.deepEqual(summary.counts, { OK: 1, WITHHELD: 0, UPDATE: 0, TIMEOUT: 0, FAIL: 0, QUARANTINED: 1, REVOKED: 0, NEVER: 4 });
    const seen: string[] = [];
    for (let offset = 0; offset < all.length; offset += 2) {
      const page = (await call(d.base, `/api/devices?limit=2&offset=${offset}`)).json();
      assert.equal(page.total, all.length);
      seen.push(...ids(page.rows));
    }
    assert.deepEqual(seen, all);
    assert.deepEqual(ids((await call(d.base, '/api/devices?dir=desc&limit=200')).json().rows), [...all].reverse());
    assert.deepEqual(ids((await call(d.base, '/api/devices?q=ALPHA')).json().rows), ['alpha-01', 'alpha-02']);
    const quarantined = (await call(d.base, '/api/devices?state=QUARANTINED')).json();
    assert.deepEqual(quarantined.rows, [
      {
        deviceId: 'quiet-03',
        state: 'QUARANTINED',
        reason: 'suspicious',
        instances: 1,
        lastRequestAtMs: null,
        nextDeadlineMs: null,
        bootCount: null,
        firmware: null,
      },
    ]);
    const ok = (await call(d.base, '/api/devices?state=OK')).json().rows;
    assert.deepEqual(ids(ok), [d.dev.deviceId]);
    assert.equal(ok[0].lastRequestAtMs, T0);
    assert.ok(ok[0].nextDeadlineMs > T0);
    // From the device history db migrate copied: the runtime report's boot count and firmware.
    assert.equal(ok[0].bootCount, 3);
    assert.equal(ok[0].firmware, '2.1.0');
    for (const dir of ['asc', 'desc'])
      for (const sort of ['lastRequest', 'deadline'])
        assert.equal(
          (await call(d.base, `/api/devices?sort=${sort}&dir=${dir}`)).json().rows[0].deviceId,
          d.dev.deviceId,
          `${sort} ${dir}`,
        );
    assert.equal(
      summary.rates.tickets.reduce((a: number, b: number) => a + b, 0),
      1,
      "the start reads the hour's ticket",
    );
    assert.deepEqual(summary.hubs, [{ label: summary.hubs[0].label, store: 'postgres' }]);
    // A deadline passing with no write flips the device at the next poll.
    d.clock.advanceTo(ok[0].nextDeadlineMs + 1);
    await d.dash.poll();
    assert.equal((await call(d.base, `/api/devices?q=${d.dev.deviceId}`)).json().rows[0].state, 'TIMEOUT');
    const after = (await call(d.base, '/api/summary')).json().rates.tickets;
    assert.equal(
      after.reduce((a: number, b: number) => a + b, 0),
      1,
      'the first poll does not count the start-up rows again',
    );
    const health = (await call(d.base, '/api/health')).json();
    assert.equal(health.hubs.length, 1);
    assert.equal(health.hubs[0].ok, true);
    assert.doesNotMatch(health.hubs[0].label, /search_path|postgres@/, 'the label names no options or user');
  });

  it('shows one device: instances and the audit trail newest first; unknown devices are 404', async (t) => {
    const d = await pgDash(t);
    if (d === undefined) return;
    const dev = (await call(d.base, `/api/devices/${encodeURIComponent(d.dev.deviceId)}`)).json();
    assert.equal(dev.state, 'OK');
    assert.equal(dev.deviceState, 'active');
    assert.deepEqual(
      dev.instances.map((i: { instance: string; state: string }) => [i.instance, i.state]),
      [
        ['device', 'OK'],
        ['mm', 'NEVER'],
      ],
    );
    // Newest first by time (the fixture enrolled the device at the host's real time, after T0).
    assertOneTicketDevice(dev, T0);
    assert.deepEqual(dev.resets, [{ atMs: T0, bootCount: 3, reason: 'power-on', firmware: '2.1.0' }], 'from the copied history');
    const missing = await call(d.base, '/api/devices/nobody');
    assert.equal(missing.status, 404);
    assert.equal(missing.json().error.code, 'unknown-device');
  });

  it('quarantines with the token, audited exactly as dominion quarantine --db postgres:// audits it', async (t) => {
    const d = await pgDash(t, { token: TOKEN });
    if (d === undefined) return;
    const post = (path: string, body: string) =>
      call(d.base, path, { method: 'POST', headers: { ...JSON_TYPE, Authorization: `Bearer ${TOKEN}` }, body });
    const a = await post('/api/devices/alpha-01/quarantine', JSON.stringify({ reason: 'from the page' }));
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json().device.state, 'QUARANTINED');
    assert.equal(a.json().device.stateReason, 'from the page');
    assert.equal((await call(d.base, '/api/devices?q=alpha-01')).json().rows[0].state, 'QUARANTINED');
    const state = await d.pool.query('SELECT state, state_reason FROM device WHERE device_id = $1', ['alpha-01']);
    assert.deepEqual(state.rows[0], { state: 'quarantined', state_reason: 'from the page' });
    const io = captureIo();
    assert.equal(await stateCommand('quarantine')(['alpha-02', '--db', d.url, '--reason', 'from the page'], io), 0, io.lines.join('\n'));
    const [page] = (await pgReadAudit(d.pool, { deviceId: 'alpha-01' })).slice(-1);
    const [cli] = (await pgReadAudit(d.pool, { deviceId: 'alpha-02' })).slice(-1);
    const shape = (e: typeof page) => ({ ...e, seq: 0, atMs: 0, deviceId: '' });
    assert.deepEqual(shape(page!), shape(cli!));
    assert.equal(page!.reason, 'quarantine');
    // Revoked is final: releasing it is refused with 409, nothing changes.
    assert.equal((await post('/api/devices/zeta-9/revoke', '{"reason":"lost"}')).json().device.state, 'REVOKED');
    const again = await post('/api/devices/zeta-9/release', '{}');
    assert.equal(again.status, 409);
    assert.equal(again.json().error.code, 'refused');
    assert.equal((await post('/api/devices/nobody/quarantine', '{}')).status, 404);
  });

  it('require-update names a release db migrate copied (audited, UPDATE state, the hub evaluates it); clear drops it', async (t) => {
    const d = await pgDash(t, { token: TOKEN });
    if (d === undefined) return;
    const post = (body: string) =>
      call(d.base, `/api/devices/${d.dev.deviceId}/require-update`, {
        method: 'POST',
        headers: { ...JSON_TYPE, Authorization: `Bearer ${TOKEN}` },
        body,
      });
    const unpublished = await post('{"instance":"mm","release":8}');
    assert.equal(unpublished.status, 409, unpublished.text);
    assert.match(unpublished.json().error.message, /release 8 of mm is not published here/);
    assert.equal((await post('{"instance":"sm:nope","release":7}')).status, 400, 'an instance the device does not have');

    const required = await post('{"instance":"mm","release":7}');
    assert.equal(required.status, 200, required.text);
    const [last] = (await pgReadAudit(d.pool, { deviceId: d.dev.deviceId })).slice(-1);
    assert.equal(last!.reason, 'require-update');
    assert.equal(last!.detail, 'mm must run release 7');
    // A worker opened now reads the demand: the device's mm asks and is told to update.
    const store = await PgHubStore.open({ url: d.url });
    t.after(() => store.close());
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store });
    const batch = new PendingBatch();
    const req = signedRequest(d.dev.mm, d.dev.deviceId, 'mm', domainRuntime([{ name: 'forwarder' }]));
    assert.equal(core.handle(req.bytes, T0 + 2000, batch).decision.outcome, 'update-required');
    await store.commitAsync(batch.take().map((x) => x.effects));
    await d.dash.poll();
    const mm = (await call(d.base, `/api/devices/${d.dev.deviceId}`))
      .json()
      .instances.find((i: { instance: string }) => i.instance === 'mm');
    assert.equal(mm.state, 'UPDATE');
    assert.equal((await call(d.base, '/api/summary')).json().counts.UPDATE, 1);

    const cleared = await post('{"clear":true}');
    assert.equal(cleared.status, 200, cleared.text);
    const [clear] = (await pgReadAudit(d.pool, { deviceId: d.dev.deviceId })).slice(-1);
    assert.equal(clear!.reason, 'clear-update');
    assert.equal(clear!.detail, '1 required update(s) cleared');
    assert.equal((await d.pool.query("SELECT count(*)::int AS n FROM operator_hold WHERE kind = 'update'")).rows[0].n, 0);
  });

  it('streams a change another connection commits: the CLI function, then a worker decision', async (t) => {
    const d = await pgDash(t);
    if (d === undefined) return;
    const s = await openEvents(d.base);
    t.after(() => s.close());
    assert.equal((await s.next()).event, 'hello');
    await pgChangeDeviceState(d.pool, 'alpha-01', 'quarantine', 'cli');
    await d.dash.poll();
    const change = await s.next((e) => e.event === 'change');
    assert.deepEqual(change.data.devices, ['alpha-01']);
    assert.equal(change.data.summary, true);
    assert.equal((await call(d.base, '/api/devices?q=alpha-01')).json().rows[0].state, 'QUARANTINED');

    // A worker's decisions, committed through its journal: a ticket and a boot, a moment later.
    const store = await PgHubStore.open({ url: d.url });
    t.after(() => store.close());
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store });
    const batch = new PendingBatch();
    const atMs = T0 + 5000;
    const ask = (bytes: Uint8Array): string => core.handle(bytes, atMs, batch).decision.outcome;
    assert.equal(ask(signedRequest(d.dev.device, d.dev.deviceId, 'device', deviceRuntime()).bytes), 'ticket');
    const images = ['sw', 'hypervisor', 'mm'].map((label) => ({ label, version: 5n, digest: digestOf(`${label} 5`) }));
    const init = { deviceId: d.dev.deviceId, bootNonce: randomNonce(32), manifestDigest: digestOf('manifest'), images };
    assert.equal(ask(bootRequest(d.dev.device, { ...init, firmwareVersion: '0.1.3', bootCount: 17n })), 'boot-granted');
    await store.commitAsync(batch.take().map((x) => x.effects));
    d.clock.advanceTo(T0 + 6000); // past the stream's 250 ms gap since the first event
    await d.dash.poll();
    const decided = await s.next((e) => e.event === 'change');
    assert.deepEqual(decided.data.devices, [d.dev.deviceId]);
    const row = (await call(d.base, '/api/devices?state=OK')).json().rows[0];
    assert.equal(row.lastRequestAtMs, atMs);
    assert.equal(row.bootCount, 17);
    assert.equal(row.firmware, '0.1.3');
    const dev = (await call(d.base, `/api/devices/${d.dev.deviceId}`)).json();
    assert.equal(dev.boot.count, 17);
    assert.equal(dev.boot.outcome, 'boot-granted');
    // Nothing new: a poll publishes nothing.
    const seq = d.dash.feed.seq;
    await d.dash.poll();
    assert.equal(d.dash.feed.seq, seq);
  });

  it("a worker's reported reset: the device view lists it (from the device history) and the resets chart counts it", async (t) => {
    const d = await pgDash(t);
    if (d === undefined) return;
    const before = (await call(d.base, '/api/summary')).json().resets.byReason;
    assert.equal(
      before['power-on'].reduce((a: number, b: number) => a + b, 0),
      1,
      'the start reads the copied reset',
    );
    const store = await PgHubStore.open({ url: d.url });
    t.after(() => store.close());
    const core = new HubCore({ role: IH_ROLE, signer: newSigner(), store });
    const batch = new PendingBatch();
    const rebooted = deviceRuntime();
    const report = rebooted.report!.value as { bootCount: bigint; lastResetReason: ResetReason };
    report.bootCount = 4n;
    report.lastResetReason = ResetReason.TICKET_TIMEOUT;
    for (const atMs of [T0 + 5000, T0 + 5001])
      assert.equal(
        core.handle(signedRequest(d.dev.device, d.dev.deviceId, 'device', rebooted).bytes, atMs, batch).decision.outcome,
        'ticket',
      );
    await store.commitAsync(batch.take().map((x) => x.effects));
    d.clock.advanceTo(T0 + 6000);
    await d.dash.poll();
    const dev = (await call(d.base, `/api/devices/${d.dev.deviceId}`)).json();
    assert.deepEqual(dev.resets, [
      { atMs: T0 + 5000, bootCount: 4, reason: 'ticket-timeout', firmware: '2.1.0' },
      { atMs: T0, bootCount: 3, reason: 'power-on', firmware: '2.1.0' },
    ]);
    assert.equal((await call(d.base, '/api/devices?state=OK')).json().rows[0].bootCount, 4);
    const after = (await call(d.base, '/api/summary')).json().resets.byReason;
    assert.equal(
      after['ticket-timeout'].reduce((a: number, b: number) => a + b, 0),
      1,
      'the poll read the new reset once',
    );
    assert.equal(
      after['power-on'].reduce((a: number, b: number) => a + b, 0),
      1,
      'and not the copied one again',
    );
  });

  it('a change that commits after a later one (out-of-order identity values) is still streamed, once', async (t) => {
    const d = await pgDash(t);
    if (d === undefined) return;
    const s = await openEvents(d.base);
    t.after(() => s.close());
    await s.next((e) => e.event === 'hello');
    // A writer takes its audit seq and holds the transaction open; another writer commits past it.
    const slow = await d.pool.connect();
    try {
      await slow.query('BEGIN');
      await slow.query("UPDATE device SET state = 'quarantined', state_reason = 'slow' WHERE device_id = 'alpha-02'");
      await slow.query(
        "INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id) VALUES ($1, NULL, 'operator', 'quarantine', 'slow', 'alpha-02')",
        [T0 + 1500],
      );
      const other = await openPool({ url: d.url, max: 1 });
      try {
        await pgChangeDeviceState(other, 'Beta-X', 'quarantine', 'fast');
      } finally {
        await other.end();
      }
      await d.dash.poll();
      assert.deepEqual((await s.next((e) => e.event === 'change')).data.devices, ['Beta-X']);
      await slow.query('COMMIT');
    } finally {
      slow.release();
    }
    d.clock.advance(1000);
    await d.dash.poll();
    assert.deepEqual((await s.next((e) => e.event === 'change')).data.devices, ['alpha-02']);
    assert.equal((await call(d.base, '/api/devices?q=alpha-02')).json().rows[0].state, 'QUARANTINED');
    const seq = d.dash.feed.seq;
    d.clock.advance(1000);
    await d.dash.poll();
    assert.equal(d.dash.feed.seq, seq, 'rows seen once are not named again');
  });

  it('startDashboard opens a postgres:// --db and a wrong schema fails the start with one line', async (t) => {
    const d = await pgDash(t);
    if (d === undefined) return;
    const h = await startDashboard({ dbs: [d.url], listen: { host: '127.0.0.1', port: 0 } });
    try {
      const counts = (await call(h.url.replace(/\/$/, ''), '/api/summary')).json().counts;
      assert.equal(counts.NEVER, 4);
    } finally {
      await h.close();
    }
    const base = needDatabase(t)!;
    const empty = schemaUrl(base, await freshSchema(t, base));
    await assert.rejects(startDashboard({ dbs: [empty], listen: { host: '127.0.0.1', port: 0 } }), /no dominion hub schema here/);
  });
});
