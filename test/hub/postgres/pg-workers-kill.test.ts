/**
 * Stateless workers (docs/ARCHITECTURE.md §7.5): two `dominion hub --db postgres://…` processes of
 * one hub id on one Mosquitto (a shared subscription splits the requests), and one is killed with
 * SIGKILL under load. The other answers on: every device that retries (a fresh nonce, as the AWDT
 * does) gets its next ticket, and every reply a device received has its committed audit row.
 * Skipped without DATABASE_URL or Mosquitto; a schema of its own; real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTEXTS } from '../../../actors/crypto/index.ts';
import { open, pinned } from '../../../actors/tickets/index.ts';
import { awaitConnected, connectMqtt, toBuffer } from '../../../actors/mqtt/index.ts';
import { codecs, topics } from '../../../proto/index.ts';
import { IH_ROLE, newHubKey, requestRef, writeHubKeyFile } from '../../../actors/hub/index.ts';
import {
  claimPgHubIdentity,
  migratePg,
  openPool,
  pgEnrollKeys,
  pgReadAudit,
  pgSetFleetPolicy,
} from '../../../actors/hub/postgres/index.ts';
import { freePort, haveMosquitto, startMosquitto } from '../../mqtt/tls-fixture.ts';
import { within } from '../../mqtt/wait.ts';
import { dominion, type Child } from '../child.ts';
import { deviceRuntime, newDevice, node, signedRequest, tempDir, uniqueId } from '../fixtures.ts';
import { freshSchema, needDatabase } from './pg-fixture.ts';

const DEVICES = 16;

test(
  'two PostgreSQL workers, one killed under load: the other answers every device, and every reply has its audit row',
  {
    skip: haveMosquitto ? false : 'mosquitto is not installed',
  },
  async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const schema = await freshSchema(t, base);
    const url = `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const hubId = uniqueId('ih');
    const key = newHubKey(hubId, IH_ROLE);
    const keyPath = join(tempDir(), 'ih.key.json');
    writeHubKeyFile(keyPath, key);
    const db = await openPool({ url, max: 2 });
    t.after(() => db.end());
    await migratePg(db);
    await claimPgHubIdentity(db, { hubId, role: IH_ROLE });
    await pgSetFleetPolicy(db, { default: { deferralMs: 60_000 } });
    const devices = Array.from({ length: DEVICES }, () => newDevice());
    for (const d of devices) await pgEnrollKeys(db, d.deviceId, [{ instance: 'device', publicKey: d.device.publicKey }]);

    const port = await freePort();
    const conf = join(mkdtempSync(join(tmpdir(), 'dominion-pg-kill-')), 'mosquitto.conf');
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n`);
    const broker = await startMosquitto(conf, port, { tls: false });
    t.after(() => broker.stop());

    const args = ['hub', '--role', 'ih', '--id', hubId, '--broker', broker.url, '--db', url, '--key', keyPath, '--log-format', 'text'];
    const workers: Child[] = [dominion(args), dominion(args)];
    t.after(() => workers.forEach((w) => w.process.exitCode === null && w.process.kill('SIGKILL')));
    await Promise.all(workers.map((w, i) => w.waitFor(/online: shared subscription/, `worker ${i} online on a shared subscription`)));

    // Each device keeps one request outstanding and, like the AWDT, asks again with a fresh nonce
    // when it waited long enough (here: whenever the test says so), until it is answered.
    const load = connectMqtt(broker.url, { clientId: uniqueId('fleet') });
    t.after(() => load.endAsync(true));
    await awaitConnected(load);
    await load.subscribeAsync('dominion/v1/device/+/reply/+', { qos: 1 });
    const hubKey = pinned(node.verifier(key.publicKey));
    const outstanding = new Map<string, string>(); // device → ref of its latest request
    const received: { deviceId: string; ref: string; outcome: string }[] = [];
    const tickets = new Map<string, number>(); // device → tickets received
    let onReply: () => void = () => {};
    const ask = (i: number): void => {
      const d = devices[i]!;
      const r = signedRequest(d.device, d.deviceId, 'device', deviceRuntime());
      outstanding.set(d.deviceId, requestRef(r.nonce));
      load.publish(topics.hubRequest(hubId, d.deviceId), toBuffer(r.bytes), { qos: 1 });
    };
    load.on('message', (_topic, payload) => {
      const opened = open(payload, CONTEXTS.ticketReply, hubKey);
      assert.ok(opened.ok, 'every reply verifies with the hub key');
      const reply = codecs.ticketReply.decode(opened.payload);
      const ref = requestRef(reply.nonce);
      received.push({ deviceId: reply.deviceId, ref, outcome: reply.outcome.case ?? '' });
      if (outstanding.get(reply.deviceId) === ref) {
        outstanding.delete(reply.deviceId);
        if (reply.outcome.case === 'ticket') tickets.set(reply.deviceId, (tickets.get(reply.deviceId) ?? 0) + 1);
        ask(devices.findIndex((d) => d.deviceId === reply.deviceId)); // the next round at once: load
      }
      onReply();
    });

    // Load until 400 replies, then kill the first worker with requests in flight.
    await within<void>(
      60_000,
      () => `400 replies before the kill (${received.length})`,
      (resolve) => {
        onReply = () => received.length >= 400 && resolve();
        devices.forEach((_, i) => ask(i));
      },
    );
    workers[0]!.process.kill('SIGKILL');
    assert.equal(await workers[0]!.exited, 'SIGKILL');
    const atKill = new Map([...tickets]);

    // Every device asks again (fresh nonces: what was in flight at the dead worker is lost) until the
    // survivor has given each of them two more tickets.
    const retry = setInterval(() => outstanding.forEach((_, deviceId) => ask(devices.findIndex((d) => d.deviceId === deviceId))), 250);
    try {
      await within<void>(
        60_000,
        () => `two more tickets for every device from the surviving worker`,
        (resolve) => {
          const check = (): void =>
            void (devices.every((d) => (tickets.get(d.deviceId) ?? 0) >= (atKill.get(d.deviceId) ?? 0) + 2) && resolve());
          onReply = check;
          check();
        },
      );
    } finally {
      clearInterval(retry);
    }
    workers[1]!.process.kill('SIGTERM');
    assert.equal(await workers[1]!.exited, 0, workers[1]!.output());

    const audit = await pgReadAudit(db);
    const audited = new Set(audit.map((e) => `${e.deviceId}/${e.ref}`));
    const missing = received.filter((r) => !audited.has(`${r.deviceId}/${r.ref}`));
    assert.equal(missing.length, 0, `${missing.length} of ${received.length} replies have no audit row`);
    assert.ok(received.every((r) => r.outcome === 'ticket'));
  },
);
