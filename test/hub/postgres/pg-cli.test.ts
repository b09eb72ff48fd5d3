/**
 * The CLI on PostgreSQL (docs/ARCHITECTURE.md §7.5): `dominion hub --db postgres://… --init` as a
 * real child process, killed with SIGKILL under load (every reply received has its committed audit
 * row); `quarantine --db postgres://…` reaching two running workers; `db migrate` from a SQLite hub.
 * Skipped without DATABASE_URL; each test has a schema of its own, named in the URL.
 */
import { replyLog } from '../reply-log.ts';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CONTEXTS, hex } from '../../../actors/crypto/index.ts';
import { open, pinned } from '../../../actors/tickets/index.ts';
import { awaitConnected, connectMqtt, startEmbeddedBroker, toBuffer } from '../../../actors/mqtt/index.ts';
import { codecs, create, RuntimeInfoSchema, topics } from '../../../proto/index.ts';
import { IH_ROLE, newHubKey, PgHub, requestRef, writeHubKeyFile } from '../../../actors/hub/index.ts';
import {
  claimPgHubIdentity,
  migratePg,
  openPool,
  pgEnrollKeys,
  pgReadAudit,
  pgSetDeviceBrokerCredential,
  pgSetFleetPolicy,
  pgSetHubBrokerCredential,
  PgHubStore,
  type PgPool,
} from '../../../actors/hub/postgres/index.ts';
import { changeDeviceState, enrollKeys, publishArtifacts, setFleetPolicy, SqliteHubStore } from '../../../actors/hub/sqlite/index.ts';
import { newReleaseKey, writeArtifacts } from '../release-fixture.ts';
import { dbCommand } from '../../../cli/db.ts';
import { devicesCommand, requireUpdateCommand, stateCommand } from '../../../cli/operator.ts';
import { publishCommand, releasesCommand } from '../../../cli/publish.ts';
import { brokerSyncCommand } from '../../../cli/broker-sync.ts';
import { auditCommand } from '../../../cli/audit.ts';
import { hashPassword } from '../../../actors/broker-auth/index.ts';
import { readFileSync } from 'node:fs';
import { within } from '../../mqtt/wait.ts';
import { dominion, runDominion } from '../child.ts';
import {
  deviceRuntime,
  domainRuntime,
  ihRules,
  newDevice,
  newSigner,
  node,
  signedRequest,
  tempDir,
  uniqueId,
  type SignedRequest,
} from '../fixtures.ts';
import { captureIo, changeApplied, freshSchema, needDatabase, schemaUrl } from './pg-fixture.ts';

async function pool(t: { after(fn: () => Promise<void>): void }, url: string): Promise<PgPool> {
  const p = await openPool({ url, max: 2 });
  t.after(() => p.end());
  return p;
}

/** A fresh schema of the hub tables, claimed by a new IH: its URL (for --db), a pool, the hub id. */
async function claimedSchema(t: TestContext): Promise<{ url: string; db: PgPool; hubId: string } | undefined> {
  const base = needDatabase(t);
  if (base === undefined) return undefined;
  const url = schemaUrl(base, await freshSchema(t, base));
  const db = await pool(t, url);
  await migratePg(db);
  const hubId = uniqueId('ih');
  await claimPgHubIdentity(db, { hubId, role: IH_ROLE });
  return { url, db, hubId };
}

describe('the CLI on PostgreSQL', () => {
  it('hub --init comes online on an empty schema; kill -9 under load: every reply received has its audit row', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const url = schemaUrl(base, await freshSchema(t, base));
    const dir = tempDir();
    const keyPath = join(dir, 'ih.key.json');
    const hubId = uniqueId('ih');
    const key = newHubKey(hubId, IH_ROLE);
    writeHubKeyFile(keyPath, key);
    const broker = await startEmbeddedBroker();
    const args = ['hub', '--role', 'ih', '--id', hubId, '--broker', broker.url, '--db', url, '--key', keyPath, '--share-group', 'none'];
    const logged = ['--log-format', 'text'];

    // --init on an empty schema: the worker creates it and comes online (then a clean stop).
    let hub = dominion([...args, '--init', ...logged]);
    await hub.waitFor(/online/, 'the first worker to come online');
    hub.process.kill('SIGTERM');
    assert.equal(await hub.exited, 0, hub.output());
    const password = new URL(base).password;
    if (password !== '') assert.ok(!hub.output().includes(password), 'the URL password is never logged');
    assert.match(hub.output(), /db=postgres:\/\/[^ ]*127|db=postgres:\/\//);

    const db = await pool(t, url);
    const devices = Array.from({ length: 20 }, () => newDevice());
    await pgSetFleetPolicy(db, { default: { deferralMs: 60_000 } });
    for (const d of devices) await pgEnrollKeys(db, d.deviceId, [{ instance: 'device', publicKey: d.device.publicKey }]);
    const requests: SignedRequest[] = Array.from({ length: 1500 }, (_, i) => {
      const d = devices[i % devices.length]!;
      return signedRequest(d.device, d.deviceId, 'device', deviceRuntime());
    });

    const load = connectMqtt(broker.url, { clientId: uniqueId('load') });
    const replies = replyLog(load, key.publicKey);
    const received = replies.received;
    hub = dominion([...args, ...logged]);
    try {
      await awaitConnected(load);
      await load.subscribeAsync('dominion/v1/device/+/reply/+', { qos: 1 });
      await hub.waitFor(/online/, 'the worker to come online');
      let next = 0;
      const send = (): void => {
        if (next < requests.length) {
          const r = requests[next++]!;
          load.publish(topics.hubRequest(hubId, r.deviceId), toBuffer(r.bytes), { qos: 1 });
        }
      };
      const killed = within<void>(
        30_000,
        () => `300 replies before the kill (${received.length})`,
        (resolve) => {
          replies.onReply = () => {
            if (received.length === 300) {
              hub.process.kill('SIGKILL');
              resolve();
            } else send();
          };
        },
      );
      for (let i = 0; i < 64; i++) send();
      await killed;
      assert.equal(await hub.exited, 'SIGKILL');
      assert.ok(next - received.length > 0, 'requests were in flight when the worker died');

      // Restarted: it answers a fresh request, and refuses one answered before the kill (answered_nonce).
      replies.onReply = () => {};
      hub = dominion([...args, ...logged]);
      await hub.waitFor(/online/, 'the restarted worker to come online');
      const replayed = requests[0]!;
      const fresh = requests[requests.length - 1]!;
      const freshAnswered = within<void>(10_000, 'a reply to a fresh request after the restart', (resolve) => {
        replies.onReply = (r) => {
          if (r.ref === requestRef(fresh.nonce)) resolve();
        };
      });
      await load.publishAsync(topics.hubRequest(hubId, replayed.deviceId), toBuffer(replayed.bytes), { qos: 1 });
      await load.publishAsync(topics.hubRequest(hubId, fresh.deviceId), toBuffer(fresh.bytes), { qos: 1 });
      await freshAnswered;
      hub.process.kill('SIGTERM');
      assert.equal(await hub.exited, 0, `clean stop:\n${hub.output()}`);
    } finally {
      hub.process.kill('SIGKILL');
      await load.endAsync(true);
      await broker.close();
    }

    const audit = await pgReadAudit(db);
    const audited = new Set(audit.map((e) => `${e.deviceId}/${e.instance}/${e.ref}/${e.outcome}`));
    const missing = received.filter((r) => !audited.has(`${r.deviceId}/${r.instance}/${r.ref}/${r.outcome}`));
    assert.equal(missing.length, 0, `${missing.length} of ${received.length} replies have no audit row`);
    assert.ok(received.length >= 301);
    assert.equal(received.filter((r) => r.ref === requestRef(requests[0]!.nonce)).length, 1, 'the replay got no second reply');
    assert.ok(
      audit.some((e) => e.reason === 'replayed' && e.ref === requestRef(requests[0]!.nonce)),
      'the replay is audited refused replayed',
    );
  });

  it('quarantine --db postgres:// reaches both running workers; the next request is withheld QUARANTINED', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const url = schemaUrl(base, await freshSchema(t, base));
    const hubId = uniqueId('ih');
    const db = await pool(t, url);
    await migratePg(db);
    await claimPgHubIdentity(db, { hubId, role: IH_ROLE });
    await pgSetFleetPolicy(db, ihRules());
    const dev = newDevice();
    await pgEnrollKeys(db, dev.deviceId, [{ instance: 'device', publicKey: dev.device.publicKey }]);
    const broker = await startEmbeddedBroker();
    const signer = newSigner();
    const start = (): Promise<PgHub> => PgHub.start({ role: IH_ROLE, hubId, brokerUrl: broker.url, dbUrl: url, signer, shareGroup: null });
    const workers = [await start(), await start()];
    const device = connectMqtt(broker.url, { clientId: uniqueId('dev') });
    try {
      const io = captureIo();
      assert.equal(await stateCommand('quarantine')([dev.deviceId, '--db', url, '--reason', 'drill'], io), 0, io.errors.join('\n'));
      assert.match(io.lines.join('\n'), /quarantined in postgres:\/\//);
      // The NOTIFY went out at commit, before the command returned: each worker applies it within 1 s.
      await Promise.all(
        workers.map((w, i) => changeApplied(w.store, () => w.store.view.deviceState(dev.deviceId) === 'quarantined', `worker ${i}`, 1000)),
      );

      await awaitConnected(device);
      await device.subscribeAsync(topics.replySubscription(dev.deviceId), { qos: 1 });
      const req = signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime());
      const reply = within<Buffer>(10_000, 'the reply after the quarantine', (resolve) => {
        const on = (topic: string, payload: Buffer): void => void (topic === topics.reply(dev.deviceId, 'device') && resolve(payload));
        device.on('message', on);
        return () => void device.off('message', on);
      });
      await device.publishAsync(topics.hubRequest(hubId, dev.deviceId), toBuffer(req.bytes), { qos: 1 });
      const opened = open(await reply, CONTEXTS.ticketReply, pinned(node.verifier(signer.publicKey)));
      assert.ok(opened.ok);
      const decoded = codecs.ticketReply.decode(opened.payload);
      assert.equal(decoded.outcome.case, 'withheld');
      const audit = await pgReadAudit(db, { deviceId: dev.deviceId });
      assert.ok(audit.some((e) => e.outcome === 'operator' && e.reason === 'quarantine' && e.detail === 'drill'));
      assert.ok(audit.some((e) => e.outcome === 'withheld' && e.reason === 'quarantined' && e.ref === requestRef(req.nonce)));
    } finally {
      await device.endAsync(true);
      for (const w of workers) await w.stop();
      await broker.close();
    }
  });

  it('db migrate copies a SQLite hub; a PgHub then answers its devices and devices --db postgres:// lists them', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const url = schemaUrl(base, await freshSchema(t, base));
    const dir = tempDir();
    const dbPath = join(dir, 'ih.db');
    const hubId = uniqueId('ih');
    const devices = [newDevice(), newDevice(), newDevice()];
    const sqlite = SqliteHubStore.open({ path: dbPath, create: true, identity: { hubId, role: IH_ROLE } });
    setFleetPolicy(sqlite.db, ihRules());
    for (const d of devices)
      enrollKeys(sqlite.db, d.deviceId, [
        { instance: 'device', publicKey: d.device.publicKey },
        { instance: 'mm', publicKey: d.mm.publicKey },
      ]);
    changeDeviceState(sqlite.db, devices[2]!.deviceId, 'quarantine', 'moved while quarantined');
    const auditRows = sqlite.db.prepare('SELECT count(*) FROM audit').pluck().get() as number;
    const lastSeq = sqlite.db.prepare('SELECT max(seq) FROM audit').pluck().get() as number;
    sqlite.close();

    const io = captureIo();
    assert.equal(await dbCommand(['migrate', '--from', dbPath, '--to', url, '--init'], io), 0, io.errors.join('\n'));
    const counts = new Map(io.lines.map((l) => l.split(/\s+/)).map(([table, n]) => [table!, n!]));
    assert.equal(counts.get('device'), '3');
    assert.equal(counts.get('device_key'), '6');
    assert.equal(counts.get('fleet_policy'), '1');
    assert.equal(counts.get('audit'), String(auditRows));
    // A second copy into the same schema is refused: a move, not a merge.
    const again = captureIo();
    assert.equal(await dbCommand(['migrate', '--from', dbPath, '--to', url], again), 1);
    assert.match(again.errors.join('\n'), /not empty/);

    const listed = captureIo();
    assert.equal(await devicesCommand(['--db', url, '--json'], listed), 0, listed.errors.join('\n'));
    const rows = listed.lines.map((l) => JSON.parse(l) as { deviceId: string; instance: string; deviceState: string });
    assert.equal(rows.length, 6);
    assert.deepEqual(new Set(rows.map((r) => r.deviceId)), new Set(devices.map((d) => d.deviceId)));
    assert.equal(rows.find((r) => r.deviceId === devices[2]!.deviceId)!.deviceState, 'quarantined');
    const table = captureIo();
    assert.equal(await devicesCommand(['--db', url], table), 0);
    assert.match(table.lines.join('\n'), /QUARANTINED/);

    const broker = await startEmbeddedBroker();
    const signer = newSigner();
    const hub = await PgHub.start({ role: IH_ROLE, hubId, brokerUrl: broker.url, dbUrl: url, signer, shareGroup: null });
    const device = connectMqtt(broker.url, { clientId: uniqueId('dev') });
    try {
      await awaitConnected(device);
      const d = devices[0]!;
      await device.subscribeAsync(topics.replySubscription(d.deviceId), { qos: 1 });
      const req = signedRequest(d.device, d.deviceId, 'device', deviceRuntime());
      const reply = within<Buffer>(10_000, 'a reply from the migrated hub', (resolve) => {
        const on = (topic: string, payload: Buffer): void => void (topic === topics.reply(d.deviceId, 'device') && resolve(payload));
        device.on('message', on);
        return () => void device.off('message', on);
      });
      await device.publishAsync(topics.hubRequest(hubId, d.deviceId), toBuffer(req.bytes), { qos: 1 });
      const opened = open(await reply, CONTEXTS.ticketReply, pinned(node.verifier(signer.publicKey)));
      assert.ok(opened.ok);
      assert.equal(codecs.ticketReply.decode(opened.payload).outcome.case, 'ticket');
    } finally {
      await device.endAsync(true);
      await hub.stop();
      await broker.close();
    }
    // The audit log continues after the copied rows (the identity sequence moved past them).
    const audit = await pgReadAudit(await pool(t, url));
    const ticket = audit.find((e) => e.outcome === 'ticket');
    assert.ok(ticket !== undefined && ticket.seq > lastSeq, 'the new decision is audited after the copied rows');
    assert.equal(audit.filter((e) => e.seq <= lastSeq).length, auditRows);
  });

  it('require-update --db postgres:// names a release db migrate copied; the hub answers UPDATE_REQUIRED until --clear', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const url = schemaUrl(base, await freshSchema(t, base));
    const dir = tempDir();
    const dbPath = join(dir, 'ih.db');
    const hubId = uniqueId('ih');
    const d = newDevice();
    const sqlite = SqliteHubStore.open({ path: dbPath, create: true, identity: { hubId, role: IH_ROLE } });
    setFleetPolicy(sqlite.db, ihRules());
    enrollKeys(sqlite.db, d.deviceId, [{ instance: 'mm', publicKey: d.mm.publicKey }]);
    const key = newReleaseKey();
    publishArtifacts(sqlite.db, writeArtifacts(dir, { key, version: 7 }).dir, { releasePub: key.publicKey });
    sqlite.close();
    const io = captureIo();
    assert.equal(await dbCommand(['migrate', '--from', dbPath, '--to', url, '--init'], io), 0, io.errors.join('\n'));

    const missing = captureIo();
    assert.equal(await requireUpdateCommand([d.deviceId, '--db', url, '--instance', 'mm', '--release', '8'], missing), 1);
    assert.match(missing.errors.join('\n'), /release 8 of mm is not published here/);
    const required = captureIo();
    assert.equal(
      await requireUpdateCommand([d.deviceId, '--db', url, '--instance', 'mm', '--release', '7'], required),
      0,
      required.errors.join('\n'),
    );
    assert.match(
      required.lines[0]!,
      new RegExp(`^${d.deviceId}: mm must run release 7 \\(20000 bytes, manifest sha512 [0-9a-f]{16}…, fetched from `),
    );

    const db = await pool(t, url);
    const audit = await pgReadAudit(db, { deviceId: d.deviceId });
    assert.equal(audit.at(-1)!.reason, 'require-update');
    assert.equal(audit.at(-1)!.detail, 'mm must run release 7');
    const store = await PgHubStore.open({ url });
    try {
      const verdict = store.view.evaluate(d.deviceId, 'mm', create(RuntimeInfoSchema, domainRuntime([{ name: 'forwarder' }])));
      assert.equal(verdict.kind, 'update-required');
      assert.equal(verdict.kind === 'update-required' ? verdict.target.releaseVersion : 0, 7);
    } finally {
      await store.close();
    }
    const cleared = captureIo();
    assert.equal(await requireUpdateCommand([d.deviceId, '--db', url, '--clear'], cleared), 0, cleared.errors.join('\n'));
    assert.deepEqual(cleared.lines, [`${d.deviceId}: 1 required update(s) cleared (audited)`]);
    const after = await PgHubStore.open({ url });
    try {
      assert.notEqual(
        after.view.evaluate(d.deviceId, 'mm', create(RuntimeInfoSchema, domainRuntime([{ name: 'forwarder' }]))).kind,
        'update-required',
      );
    } finally {
      await after.close();
    }
  });

  it('publish and releases --db postgres://: pins the key, stores the IH images once, a running worker serves them within a second', async (t) => {
    const ih = await claimedSchema(t);
    if (ih === undefined) return;
    const { url, db } = ih;
    const d = newDevice();
    await pgEnrollKeys(db, d.deviceId, [{ instance: 'mm', publicKey: d.mm.publicKey }]);
    const worker = await PgHubStore.open({ url });
    try {
      const dir = tempDir();
      const key = newReleaseKey();
      const built = writeArtifacts(dir, { key, version: 4 });
      let io = captureIo();
      assert.equal(await publishCommand([built.dir, '--db', url, '--release-pub', hex(key.publicKey)], io), 0, io.errors.join('\n'));
      assert.match(io.lines[0]!, /^board rpi4, release key [0-9a-f]{32} \(pinned now\)$/);
      assert.match(io.lines.join('\n'), /^ {2}mm\s+4\s+20000 bytes\s+sha512 [0-9a-f]{16}…\s+stored$/m);
      assert.match(io.lines.join('\n'), /^not for this hub: sm:sensor$/m);
      // The NOTIFY went out at commit: the worker serves the release without a restart.
      await changeApplied(worker, () => worker.view.release('rpi4', 'mm', 4) !== undefined, 'the worker sees release 4', 1000);
      assert.deepEqual(Buffer.from(worker.view.release('rpi4', 'mm', 4)!.bundle), Buffer.from(built.bundles.get('mm')!));

      io = captureIo();
      assert.equal(await publishCommand([built.dir, '--db', url], io), 0, 'the pinned key needs no --release-pub');
      assert.match(io.lines.join('\n'), /^ {2}mm\s+4\s+20000 bytes\s+sha512 [0-9a-f]{16}…\s+unchanged$/m);
      const other = newReleaseKey();
      io = captureIo();
      assert.equal(
        await publishCommand(
          [writeArtifacts(tempDir(), { key: other, version: 5 }).dir, '--db', url, '--release-pub', hex(other.publicKey)],
          io,
        ),
        1,
      );
      assert.match(io.errors[0]!, /^dominion publish: this hub pins release key [0-9a-f]{32}; the given key [0-9a-f]{32} is another one/);

      io = captureIo();
      assert.equal(await releasesCommand(['--db', url, '--json'], io), 0, io.errors.join('\n'));
      const listed = io.lines.map((l) => JSON.parse(l) as { label: string; version: number; manifestSha512: string });
      assert.deepEqual(
        listed.map((r) => `${r.label} ${r.version}`),
        ['hypervisor 4', 'mm 4', 'sw 4'],
      );
      io = captureIo();
      assert.equal(
        await requireUpdateCommand([d.deviceId, '--db', url, '--instance', 'mm', '--release', '4'], io),
        0,
        io.errors.join('\n'),
      );
      assert.equal(
        (await pgReadAudit(db))
          .filter((e) => e.outcome === 'operator')
          .map((e) => e.reason)
          .slice(-3)
          .join(' '),
        'pin-release-key publish require-update',
      );
    } finally {
      await worker.close();
    }
  });

  it('broker-sync --db postgres:// writes passwd and acl from a PostgreSQL IH; revoke --broker-dir drops the device at once', async (t) => {
    const ih = await claimedSchema(t);
    if (ih === undefined) return;
    const { url, db, hubId } = ih;
    const kept = newDevice();
    const revoked = newDevice();
    for (const d of [kept, revoked]) {
      await pgEnrollKeys(db, d.deviceId, [{ instance: 'device', publicKey: d.device.publicKey }]);
      await pgSetDeviceBrokerCredential(db, d.deviceId, hashPassword('secret', { iterations: 1000 }));
    }
    await pgSetHubBrokerCredential(db, hubId, hashPassword('hub-secret', { iterations: 1000 }));
    const out = tempDir();
    let io = captureIo();
    assert.equal(await brokerSyncCommand(['--db', url, '--out', out], io), 0, io.errors.join('\n'));
    assert.match(io.lines[0]!, /\(2 device\(s\), hubs ih-/);
    const users = (): string[] =>
      readFileSync(join(out, 'passwd'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':')[0]!);
    assert.deepEqual(users().sort(), [kept.deviceId, revoked.deviceId, `hub@${hubId}`].sort());
    assert.match(readFileSync(join(out, 'acl'), 'utf8'), new RegExp(`user hub@${hubId}`));

    io = captureIo();
    assert.equal(await stateCommand('revoke')([revoked.deviceId, '--db', url, '--broker-dir', out], io), 0, io.errors.join('\n'));
    assert.deepEqual(users().sort(), [kept.deviceId, `hub@${hubId}`].sort(), 'the revoked device has no broker account any more');
  });

  it('audit --prune and --summary on PostgreSQL: old rows leave, each counted per day', async (t) => {
    const ih = await claimedSchema(t);
    if (ih === undefined) return;
    const { url, db } = ih;
    const DAY = 86_400_000;
    const now = Date.now();
    const old = newDevice();
    const recent = newDevice();
    await pgEnrollKeys(db, old.deviceId, [{ instance: 'device', publicKey: old.device.publicKey }], { nowMs: now - 10 * DAY });
    await pgEnrollKeys(db, recent.deviceId, [{ instance: 'device', publicKey: recent.device.publicKey }], { nowMs: now });
    let io = captureIo();
    assert.equal(await auditCommand(['--db', url, '--prune', '--keep', '3'], io), 0, io.errors.join('\n'));
    assert.match(io.lines[0]!, /^pruned 1 audit row\(s\) before /);
    io = captureIo();
    assert.equal(await auditCommand(['--db', url, '--json'], io), 0, io.errors.join('\n'));
    assert.deepEqual(
      io.lines.map((l) => (JSON.parse(l) as { deviceId?: string }).deviceId),
      [recent.deviceId],
      'only the recent enrolment is left',
    );
    io = captureIo();
    assert.equal(await auditCommand(['--db', url, '--summary', '--json'], io), 0, io.errors.join('\n'));
    const rows = io.lines.map((l) => JSON.parse(l) as { day: string; deviceId?: string; reason: string; count: number; pruned: number });
    const day = new Date(now - 10 * DAY).toISOString().slice(0, 10);
    assert.deepEqual(
      rows.find((r) => r.deviceId === old.deviceId),
      { day, deviceId: old.deviceId, outcome: 'operator', reason: 'enrolled', count: 1, pruned: 1 },
    );
    assert.equal(rows.find((r) => r.deviceId === recent.deviceId)?.pruned, 0);
  });

  it('an unreachable server is one line (exit 1); hub with a URL needs --key', async () => {
    const url = 'postgres://nobody@127.0.0.1:1/none';
    const check = await runDominion(['hub', '--check-db', '--db', url]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /^dominion hub: PostgreSQL at 127\.0\.0\.1:1\/none: cannot connect/);
    const history = await runDominion(['history', '--db', url, '--device', 'x']);
    assert.equal(history.code, 1);
    assert.match(history.stderr, /^dominion history: PostgreSQL at 127\.0\.0\.1:1\/none: cannot connect/);
    assert.doesNotMatch(history.stderr, /nobody|\n\s+at /, 'no user, no stack');
    const hub = await runDominion(['hub', '--role', 'ih', '--id', 'ih', '--broker', 'mqtt://127.0.0.1:1', '--db', url]);
    assert.equal(hub.code, 2);
    assert.match(hub.stderr, /--key <file> is required with a postgres:\/\/ --db/);
  });
});
