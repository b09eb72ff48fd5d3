/**
 * What a hub on a real broker logs (issue 14): requests it cannot attribute (`unknown-signer`, as an
 * IH on a copied database met) are one line, then one summary per window with the count — not one
 * line each, and not silence — and a broker restart is a "lost" line, then a "restored" one. The
 * rate-limit window runs on a ManualClock; the network parts wait for events with deadlines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logHubServer, SqliteHub } from '../../actors/hub/index.ts';
import { Logger } from '../../actors/log/index.ts';
import { awaitConnected, connectMqtt, startEmbeddedBroker, toBuffer, type EmbeddedBroker } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { ManualClock } from '../../runtime/index.ts';
import { within } from '../mqtt/wait.ts';
import { dominion, ihHubArgs } from './child.ts';
import { deviceRuntime, hubOn, ihDatabaseFile, newDevice, signedRequest, uniqueId, type IhDatabaseFile } from './fixtures.ts';

type Rec = Record<string, unknown>;

const ihDatabase = (): IhDatabaseFile => ihDatabaseFile(1);

/** A JSON logger on `clock` whose records a test can wait for. */
function recordingLogger(clock: ManualClock, component: string) {
  const records: Rec[] = [];
  const waiters = new Set<() => void>();
  const log = Logger.create({
    component,
    format: 'json',
    clock,
    write: (line) => {
      records.push(JSON.parse(line) as Rec);
      for (const w of waiters) w();
    },
  });
  const waitFor = (pred: (r: Rec) => boolean, what: string, ms = 10_000): Promise<Rec> =>
    within<Rec>(
      ms,
      () => `${what}; log so far:\n${records.map((r) => JSON.stringify(r)).join('\n')}`,
      (resolve) => {
        const check = (): void => {
          const r = records.find(pred);
          if (r !== undefined) resolve(r);
        };
        waiters.add(check);
        check();
        return () => void waiters.delete(check);
      },
    );
  return { log, records, waitFor };
}

test('a hub logs an unknown signer once, then a summary with the count; a broker restart as lost, then restored', async () => {
  const db = ihDatabase();
  let broker: EmbeddedBroker = await startEmbeddedBroker();
  const clock = new ManualClock(Date.parse('2026-12-01T10:00:00.000Z'));
  const { log, records, waitFor } = recordingLogger(clock, `hub ${db.hubId}`);
  const hub = await SqliteHub.start({
    ...hubOn(db, broker.url),
    reconnectPeriodMs: 50,
    log,
  });
  const stopLogging = logHubServer(hub.server, log);
  const stranger = newDevice(); // not enrolled: every request it signs is `unknown-signer`
  const sender = connectMqtt(broker.url, { clientId: uniqueId('stranger') });
  try {
    await awaitConnected(sender);
    const n = 25;
    let decided = 0;
    const allDecided = within<void>(
      10_000,
      () => `${n} decisions (got ${decided})`,
      (resolve) =>
        hub.server.on('decision', () => {
          if (++decided === n) resolve();
        }),
    );
    for (let i = 0; i < n; i++) {
      const r = signedRequest(stranger.device, stranger.deviceId, 'device', deviceRuntime());
      await sender.publishAsync(topics.hubRequest(db.hubId, stranger.deviceId), toBuffer(r.bytes), { qos: 1 });
    }
    await allDecided;
    const refusals = (): Rec[] => records.filter((r) => r.reason === 'unknown-signer');
    assert.equal(refusals().length, 1, 'one line for the first refusal, however many follow');
    const first = refusals()[0]!;
    assert.equal(first.level, 'warn');
    assert.equal(first.class, 'refused');
    assert.equal(first.exchange, 'ticket');
    assert.equal(first.device, stranger.deviceId, 'the device is named from its request topic');
    assert.equal(first.component, `hub ${db.hubId}`);
    assert.match(String(first.msg), /ticket request refused \(no reply\): unknown-signer/);

    clock.advance(60_000); // the window ends: one summary with the count held back
    assert.equal(refusals().length, 2);
    assert.equal(refusals()[1]!.suppressed, n - 1);
    assert.equal(refusals()[1]!.device, stranger.deviceId);

    // The broker goes away and comes back on the same port.
    const port = broker.port;
    await broker.close();
    const lost = await waitFor((r) => r.msg === 'broker connection lost; reconnecting', 'the "lost" line');
    assert.equal(lost.level, 'warn');
    assert.equal(typeof lost.reason, 'string');
    await waitFor((r) => r.msg === 'broker unreachable; still reconnecting', 'a "still reconnecting" line');
    broker = await startEmbeddedBroker({ port });
    const restored = await waitFor((r) => r.msg === 'broker connection restored', 'the "restored" line');
    assert.equal(restored.level, 'info');
    // Nothing the hub logged carries key material.
    const all = records.map((r) => JSON.stringify(r)).join('\n');
    assert.ok(!all.includes(Buffer.from(db.key.signer.publicKey).toString('hex')));
  } finally {
    stopLogging();
    log.close();
    await sender.endAsync(true);
    await hub.stop();
    await broker.close();
  }
});

test('dominion hub logs JSON lines on a pipe: start-up, online, and a refusal naming its class and device', async () => {
  const db = ihDatabase();
  const broker = await startEmbeddedBroker();
  const hub = dominion([...ihHubArgs({ hubId: db.hubId, brokerUrl: broker.url, dbPath: db.path, keyPath: db.keyPath })]);
  const sender = connectMqtt(broker.url, { clientId: uniqueId('stranger') });
  try {
    await hub.waitFor(/"msg":"ih online: plain subscription/, 'the online line');
    await awaitConnected(sender);
    const stranger = newDevice();
    const r = signedRequest(stranger.device, stranger.deviceId, 'device', deviceRuntime());
    await sender.publishAsync(topics.hubRequest(db.hubId, stranger.deviceId), toBuffer(r.bytes), { qos: 1 });
    await hub.waitFor(/unknown-signer/, 'the refusal line');
    const lines = hub
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    const recs = lines.map((l) => JSON.parse(l) as Rec);
    assert.ok(recs.every((x) => typeof x.time === 'string' && typeof x.level === 'string' && x.component === `hub ${db.hubId}`));
    const refusal = recs.find((x) => x.reason === 'unknown-signer')!;
    assert.equal(refusal.level, 'warn');
    assert.equal(refusal.device, stranger.deviceId);
  } finally {
    hub.process.kill('SIGTERM');
    await hub.exited;
    await sender.endAsync(true);
    await broker.close();
  }
  assert.match(hub.output(), /"msg":"stopped: received 1/);
});

test('dominion hub asked to stop while it starts (systemctl stop) stops cleanly once started: exit 0, "stopped"', async () => {
  const db = ihDatabase();
  const broker = await startEmbeddedBroker();
  const hub = dominion(['hub', '--role', 'ih', '--id', db.hubId, '--broker', broker.url, '--db', db.path, '--key', db.keyPath]);
  try {
    await hub.waitFor(/"msg":"starting"/, 'the starting line');
    hub.process.kill('SIGTERM'); // before "online": the early handler holds it until the hub has started
    assert.equal(await hub.exited, 0, hub.output());
  } finally {
    if (hub.process.exitCode === null) hub.process.kill('SIGKILL');
    await broker.close();
  }
  assert.match(hub.output(), /"msg":"stopped: /);
});
