/**
 * A hub on a database whose pages are damaged past the header (docs/ARCHITECTURE.md §7,
 * "Readiness"): such a file opens and serves some reads, so only an integrity check finds it. The
 * hub refuses to start on it, `dominion hub --check-db` names the damage, and a running hub whose
 * database goes bad, or whose commits keep failing, stops answering, says why in its retained
 * status and (as `dominion hub`) exits 1. Real SQLite files, a real child process, embedded broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { awaitConnected, connectMqtt, startEmbeddedBroker, toBuffer } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { IH_ROLE, parseHubStatus, SqliteHub, type HubStatus } from '../../actors/hub/index.ts';
import { checkDatabaseFile, HubStoreError, openHubDatabase } from '../../actors/hub/sqlite/index.ts';
import { within } from '../mqtt/wait.ts';
import { dominion, ihHubArgs, runDominion } from './child.ts';
import { deviceRuntime, hubOn, ihDatabaseFile, signedRequest, tempDir, uniqueId, type IhDatabaseFile } from './fixtures.ts';

/** A closed hub database with 300 enrolled devices (several pages of keys) and its hub key file. */
const hubDatabase = (): IhDatabaseFile => ihDatabaseFile(300);

/**
 * Overwrites the middle of one b-tree leaf page of `table` (not the file header, not the page
 * header): the file still opens and counts its rows, but quick_check finds the damage.
 */
function corruptPage(path: string, table: string): number {
  const db = new Database(path, { readonly: true });
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const page = db
    .prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno LIMIT 1")
    .pluck()
    .get(table) as number;
  db.close();
  assert.ok(page > 1, `${table} has a leaf page past the first`);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(pageSize / 2, 0x55), 0, pageSize / 2, (page - 1) * pageSize + pageSize / 4);
  closeSync(fd);
  return page;
}

test('an intact hub database passes the check: the API, "dominion hub --check-db" (exit 0)', async () => {
  const { path } = hubDatabase();
  assert.deepEqual(checkDatabaseFile(path, 'quick'), { ok: true, problems: [] });
  assert.deepEqual(checkDatabaseFile(path, 'full'), { ok: true, problems: [] });
  const r = await runDominion(['hub', '--check-db', '--db', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: ok$/m);
});

test('a page-corrupted database opens without a check, fails quick_check, and the hub refuses to start on it', async () => {
  const { path, hubId, keyPath, key } = hubDatabase();
  const page = corruptPage(path, 'device_key');

  // The trap: the header is fine, so a plain open and a count succeed.
  const plain = openHubDatabase(path);
  assert.equal(plain.prepare('SELECT count(*) FROM device_key').pluck().get(), 300);
  plain.close();

  const report = checkDatabaseFile(path, 'quick');
  assert.equal(report.ok, false);
  assert.ok(
    report.problems.some((p) => p.includes(`page ${page}`)),
    `quick_check names page ${page}: ${report.problems.join(' | ')}`,
  );

  assert.throws(
    () => openHubDatabase(path, { integrityCheck: true }),
    (err: unknown) =>
      err instanceof HubStoreError && err.code === 'corrupt' && err.message.includes(path) && err.message.includes('--check-db'),
  );
  // Refused before the broker is contacted: nothing listens on this port.
  await assert.rejects(
    SqliteHub.start({ role: IH_ROLE, hubId, brokerUrl: 'mqtt://127.0.0.1:9', dbPath: path, signer: key.signer, startTimeoutMs: 2000 }),
    (err: unknown) => err instanceof HubStoreError && err.code === 'corrupt',
  );

  const started = await runDominion([...ihHubArgs({ hubId, brokerUrl: 'mqtt://127.0.0.1:9', dbPath: path, keyPath, shared: true })]);
  assert.equal(started.code, 1, started.stdout + started.stderr);
  assert.match(started.stderr, /integrity check failed/);
  assert.ok(started.stderr.includes(path), 'the error names the file');
  assert.match(started.stderr, /restore it from a backup/);
  assert.doesNotMatch(started.stdout + started.stderr, /online/);

  const checked = await runDominion(['hub', '--check-db', '--db', path]);
  assert.equal(checked.code, 1, checked.stdout + checked.stderr);
  assert.ok(checked.stderr.includes(`page ${page}`), `--check-db names the damaged page: ${checked.stderr}`);
  assert.doesNotMatch(checked.stdout, /: ok/);
});

test('"dominion hub --check-db" on a file that is not SQLite, and on a missing one: exit 1, said', async () => {
  const dir = tempDir();
  const junk = join(dir, 'junk.db');
  const fd = openSync(junk, 'w');
  writeSync(fd, Buffer.alloc(8192, 0x41));
  closeSync(fd);
  const r = await runDominion(['hub', '--check-db', '--db', junk]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not a database|malformed/);
  const missing = await runDominion(['hub', '--check-db', '--db', join(dir, 'none.db')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no hub database here/);
});

/** Collects the retained statuses published on the hub's status topics. */
async function watchStatus(url: string, hubId: string): Promise<{ statuses: HubStatus[]; close: () => Promise<void> }> {
  const watcher = connectMqtt(url, { clientId: uniqueId('watch') });
  const statuses: HubStatus[] = [];
  watcher.on('message', (_t, payload) => {
    const s = parseHubStatus(new Uint8Array(payload));
    if (s !== undefined) statuses.push(s);
  });
  await awaitConnected(watcher);
  await watcher.subscribeAsync([topics.hubStatus(hubId), `${topics.hubStatus(hubId)}/#`], { qos: 1 });
  return { statuses, close: () => watcher.endAsync() };
}

test('a running hub whose database goes bad: the check finds it, the hub stops answering and its retained status says not ready and why', async () => {
  const db = hubDatabase();
  const broker = await startEmbeddedBroker();
  const watch = await watchStatus(broker.url, db.hubId);
  const hub = await SqliteHub.start({
    ...hubOn(db, broker.url),
    integrityCheckIntervalMs: 0, // called directly below
  });
  try {
    assert.equal(hub.checkIntegrity()?.ok, true);
    assert.equal(hub.status().ready, true);
    const problems: string[] = [];
    hub.onNotReady((p) => problems.push(p));

    hub.store.db.pragma('wal_checkpoint(TRUNCATE)'); // the damage goes to the main file, not shadowed by the WAL
    corruptPage(db.path, 'audit');
    const report = hub.checkIntegrity();
    assert.equal(report?.ok, false);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /failed its integrity check/);
    const st = hub.status();
    assert.equal(st.ready, false);
    assert.match(st.problem ?? '', /integrity/);
    await within<void>(10_000, 'a retained status with ready:false', (resolve) => {
      const t = setInterval(() => watch.statuses.some((s) => s.ready === false && s.problem !== undefined) && resolve(), 5);
      return () => clearInterval(t);
    });

    // Requests are dropped, counted, not answered.
    const d = db.devices[0]!;
    const r = signedRequest(d.device, d.deviceId, 'device', deviceRuntime());
    const load = connectMqtt(broker.url, { clientId: uniqueId('load') });
    await awaitConnected(load);
    await load.publishAsync(topics.hubRequest(db.hubId, d.deviceId), toBuffer(r.bytes), { qos: 1 });
    await within<void>(10_000, 'the request dropped as not ready', (resolve) => {
      const t = setInterval(() => hub.stats().server.notReadyDrops > 0 && resolve(), 5);
      return () => clearInterval(t);
    });
    assert.equal(hub.stats().server.replied, 0);
    await load.endAsync();
  } finally {
    await hub.stop();
  }
  const last = watch.statuses.at(-1);
  assert.equal(last?.online, false);
  assert.equal(last?.ready, false, 'the stop keeps the reason retained');
  await watch.close();
  await broker.close();
});

test('dominion hub whose commits keep failing: NOT READY on stderr, status ready:false, exit 1', async () => {
  const db = hubDatabase();
  const broker = await startEmbeddedBroker();
  const watch = await watchStatus(broker.url, db.hubId);
  const hub = dominion([...ihHubArgs({ hubId: db.hubId, brokerUrl: broker.url, dbPath: db.path, keyPath: db.keyPath })]);
  const load = connectMqtt(broker.url, { clientId: uniqueId('load') });
  try {
    await hub.waitFor(/online/, 'the hub to come online');
    // Every audit insert now fails, as a full or failing disk would make it: reads still work.
    const other = new Database(db.path);
    other.exec("CREATE TRIGGER audit_fails BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END");
    other.close();
    await awaitConnected(load);
    // Requests until it gives up: a batch holds one or a few; the third failed commit in a row makes it not ready.
    for (let i = 0; i < 200 && hub.process.exitCode === null; i++) {
      const d = db.devices[i]!;
      const r = signedRequest(d.device, d.deviceId, 'device', deviceRuntime());
      await load.publishAsync(topics.hubRequest(db.hubId, d.deviceId), toBuffer(r.bytes), { qos: 1 });
    }
    const code = await within<number | string>(
      20_000,
      () => `the hub to exit; output:\n${hub.output()}`,
      (resolve) => {
        void hub.exited.then(resolve);
      },
    );
    assert.equal(code, 1, hub.output());
    assert.match(hub.output(), /NOT READY, stopping: 3 commits in a row failed/);
    assert.match(hub.output(), /commit failures 3;/);
    assert.ok(watch.statuses.some((s) => s.ready === false && /commits in a row failed/.test(s.problem ?? '')));
  } finally {
    if (hub.process.exitCode === null) hub.process.kill('SIGKILL');
    await load.endAsync();
    await watch.close();
    await broker.close();
  }
});
