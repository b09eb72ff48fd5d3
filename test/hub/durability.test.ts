/**
 * A hub killed with SIGKILL under load loses nothing it had acknowledged: every reply a device
 * received has its audit row. The hub is a real child process (`dominion hub`), the broker embedded
 * Aedes in this process, the load a stream of pre-signed requests with 64 in flight.
 */
import { replyLog, type Received } from './reply-log.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { awaitConnected, connectMqtt, startEmbeddedBroker, toBuffer } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { IH_ROLE, newHubKey, requestRef, writeHubKeyFile } from '../../actors/hub/index.ts';
import {
  changeDeviceState,
  enrollKeys,
  openHubDatabase,
  readAudit,
  setFleetPolicy,
  SqliteHubStore,
} from '../../actors/hub/sqlite/index.ts';
import { within } from '../mqtt/wait.ts';
import { dominion, ihHubArgs } from './child.ts';
import { deviceRuntime, newDevice, signedRequest, tempDir, uniqueId, type SignedRequest } from './fixtures.ts';

test('kill -9 under load, restart: every reply received has its audit row; replays stay refused', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'ih.db');
  const keyPath = join(dir, 'ih.key.json');
  const hubId = uniqueId('ih');
  const key = newHubKey(hubId, IH_ROLE);
  writeHubKeyFile(keyPath, key);
  const devices = Array.from({ length: 20 }, () => newDevice());
  const store = SqliteHubStore.open({ path: dbPath, create: true, identity: { hubId, role: IH_ROLE } });
  setFleetPolicy(store.db, { default: { deferralMs: 60_000 } });
  for (const d of devices) enrollKeys(store.db, d.deviceId, [{ instance: 'device', publicKey: d.device.publicKey }]);
  store.close();

  const requests: SignedRequest[] = Array.from({ length: 1500 }, (_, i) => {
    const d = devices[i % devices.length]!;
    return signedRequest(d.device, d.deviceId, 'device', deviceRuntime());
  });

  const broker = await startEmbeddedBroker();
  const args = [...ihHubArgs({ hubId, brokerUrl: broker.url, dbPath, keyPath }), '--log-format', 'text'];
  const load = connectMqtt(broker.url, { clientId: uniqueId('load') });
  const replies = replyLog(load, key.publicKey);
  const received = replies.received;
  let hub = dominion(args);
  try {
    await awaitConnected(load);
    await load.subscribeAsync('dominion/v1/device/+/reply/+', { qos: 1 });
    await hub.waitFor(/online/, 'the hub to come online');

    // Load: 64 requests in flight; each reply lets the next one go. Kill once 300 were answered.
    let next = 0;
    const send = (): void => {
      if (next < requests.length) {
        const r = requests[next++]!;
        load.publish(topics.hubRequest(hubId, r.deviceId), toBuffer(r.bytes), { qos: 1 });
      }
    };
    const killed = within<void>(30_000, '300 replies before the kill', (resolve) => {
      replies.onReply = () => {
        if (received.length === 300) {
          hub.process.kill('SIGKILL');
          resolve();
        } else send();
      };
    });
    for (let i = 0; i < 64; i++) send();
    await killed;
    assert.equal(await hub.exited, 'SIGKILL');
    const sentBeforeKill = next;
    assert.ok(sentBeforeKill - received.length > 0, 'requests were in flight when the hub died');

    // Restart on the same database: it serves again, and an answered request stays answered.
    replies.onReply = () => {};
    hub = dominion(args);
    await hub.waitFor(/online/, 'the restarted hub to come online');
    const replayed = requests[0]!;
    const fresh = requests[requests.length - 1]!;
    const freshAnswered = within<void>(10_000, 'a reply to a fresh request after the restart', (resolve) => {
      replies.onReply = (r) => {
        if (r.ref === requestRef(fresh.nonce)) resolve();
      };
    });
    await load.publishAsync(topics.hubRequest(hubId, replayed.deviceId), toBuffer(replayed.bytes), { qos: 1 }); // same connection: handled first
    await load.publishAsync(topics.hubRequest(hubId, fresh.deviceId), toBuffer(fresh.bytes), { qos: 1 });
    await freshAnswered;

    // An operator command from another process applies to the running hub at the next request.
    const operator = openHubDatabase(dbPath);
    changeDeviceState(operator, devices[0]!.deviceId, 'quarantine', 'drill');
    operator.close();
    const afterQuarantine = requests[requests.length - devices.length]!; // round-robin: device 0
    const withheld = within<Received>(10_000, 'the reply after the quarantine', (resolve) => {
      replies.onReply = (r) => {
        if (r.ref === requestRef(afterQuarantine.nonce)) resolve(r);
      };
    });
    await load.publishAsync(topics.hubRequest(hubId, afterQuarantine.deviceId), toBuffer(afterQuarantine.bytes), { qos: 1 });
    assert.equal((await withheld).outcome, 'withheld');
    hub.process.kill('SIGTERM');
    assert.equal(await hub.exited, 0, `clean stop:\n${hub.output()}`);
    assert.match(hub.output(), /stopped: .*refused 1 \{"replayed":1\}/);
  } finally {
    hub.process.kill('SIGKILL');
    await load.endAsync(true);
    await broker.close();
  }

  const db = openHubDatabase(dbPath);
  try {
    const audited = new Set(readAudit(db).map((e) => `${e.deviceId}/${e.instance}/${e.ref}/${e.outcome}`));
    const missing = received.filter((r) => !audited.has(`${r.deviceId}/${r.instance}/${r.ref}/${r.outcome}`));
    assert.equal(missing.length, 0, `${missing.length} of ${received.length} replies have no audit row`);
    assert.ok(received.length >= 301);
    assert.ok(
      readAudit(db).some((e) => e.reason === 'quarantined' && e.deviceId === devices[0]!.deviceId),
      'the withheld reply is audited',
    );
    const replays = readAudit(db).filter((e) => e.reason === 'replayed');
    assert.deepEqual(
      replays.map((e) => e.ref),
      [requestRef(requests[0]!.nonce)],
    );
    assert.equal(received.filter((r) => r.ref === requestRef(requests[0]!.nonce)).length, 1, 'the replay got no second reply');
  } finally {
    db.close();
  }
});
