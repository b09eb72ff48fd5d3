import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { awaitConnected, connectMqtt, startEmbeddedBroker, toBuffer } from '../../../actors/mqtt/index.ts';
import { IH_ROLE, PgHub } from '../../../actors/hub/index.ts';
import { topics } from '../../../proto/index.ts';
import type { MqttClient } from 'mqtt';
import { deviceRuntime, newDevice, newSigner, openReply, signedRequest } from '../fixtures.ts';
import { pgAuditSummary, pgEnrollKeys, pgReadAudit } from '../../../actors/hub/postgres/index.ts';
import { needDatabase, pgIhFixture } from './pg-fixture.ts';

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
async function cuttableProxy(target: URL): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(target.href);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.href,
    cut: () => {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore: () => void (open = true),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Every message on `topic` from now on. */
function collect(client: MqttClient, topic: string): Buffer[] {
  const got: Buffer[] = [];
  client.on('message', (tp, payload) => tp === topic && got.push(payload));
  return got;
}

/** Resolves once `done()` holds, checking every few ms (the state it waits for arrives over sockets); rejects after `ms`. */
async function within(ms: number, what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('PgHub over the embedded broker', () => {
  it('two workers of one hub id: every request gets exactly one reply, the other decision audited replayed', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    await fx.store.close();
    const broker = await startEmbeddedBroker();
    const hubId = 'ih-pg';
    const signer = newSigner();
    const start = (): Promise<PgHub> => PgHub.start({ role: IH_ROLE, hubId, brokerUrl: broker.url, dbUrl: url, schema: fx.schema, signer });
    const a = await start();
    const b = await start();
    const device = connectMqtt(broker.url, { clientId: `dev-${fx.dev.deviceId}` });
    try {
      await awaitConnected(device);
      await device.subscribeAsync(topics.replySubscription(fx.dev.deviceId), { qos: 1 });
      const n = 20;
      const replies = collect(device, topics.reply(fx.dev.deviceId, 'device'));
      for (let i = 0; i < n; i++) {
        const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
        await device.publishAsync(topics.hubRequest(hubId, fx.dev.deviceId), toBuffer(req.bytes), { qos: 1 });
      }
      await within(5000, 'every reply', () => replies.length >= n);
      // Both workers got every request (plain subscription on Aedes); each was answered once.
      await within(5000, 'both workers settled', () => a.stats().server.replayedDrops + b.stats().server.replayedDrops === n);
      assert.equal(replies.length, n);
      for (const r of replies) assert.equal(openReply(r, signer.publicKey).outcome.case, 'ticket');
      const audit = await fx
        .worker()
        .then((s) =>
          s.pool.query("SELECT outcome, reason, count(*)::int AS n FROM audit WHERE outcome <> 'operator' GROUP BY 1, 2 ORDER BY 1"),
        );
      assert.deepEqual(audit.rows, [
        { outcome: 'refused', reason: 'replayed', n },
        { outcome: 'ticket', reason: 'granted', n },
      ]);
    } finally {
      await device.endAsync(true);
      await a.stop();
      await b.stop();
      await broker.close();
    }
  });

  it('PostgreSQL lost: not ready and no replies; back: answers again by itself', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const proxy = await cuttableProxy(new URL(url));
    const broker = await startEmbeddedBroker();
    const hubId = 'ih-pg';
    const signer = newSigner();
    const hub = await PgHub.start({
      role: IH_ROLE,
      hubId,
      brokerUrl: broker.url,
      dbUrl: proxy.url,
      schema: fx.schema,
      signer,
      probeMs: 100,
      queryTimeoutMs: 2000,
    });
    const device = connectMqtt(broker.url, { clientId: `dev-${fx.dev.deviceId}` });
    const readiness: Array<string | undefined> = [];
    hub.onReadiness((p) => readiness.push(p));
    try {
      await awaitConnected(device);
      await device.subscribeAsync(topics.replySubscription(fx.dev.deviceId), { qos: 1 });
      const replies = collect(device, topics.reply(fx.dev.deviceId, 'device'));
      const ask = (): Promise<unknown> =>
        device.publishAsync(
          topics.hubRequest(hubId, fx.dev.deviceId),
          toBuffer(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes),
          { qos: 1 },
        );
      await ask();
      await within(5000, 'a reply while PostgreSQL is up', () => replies.length === 1);

      proxy.cut();
      // Requests keep coming; each commit fails; after three in a row the worker is not ready.
      await within(10_000, 'not ready', async () => {
        if (hub.notReadyProblem === undefined) await ask();
        return hub.notReadyProblem !== undefined;
      });
      assert.equal(hub.status().ready, false);
      assert.match(hub.status().problem ?? '', /commits in a row failed/);
      assert.equal(replies.length, 1, 'no reply without a committed decision');
      const dropped = hub.stats().server.uncommittedDrops;
      assert.ok(dropped >= 3);

      proxy.restore();
      await within(10_000, 'ready again', () => hub.notReadyProblem === undefined);
      assert.equal(hub.status().ready, true);
      await ask();
      await within(5000, 'a reply after PostgreSQL came back', () => replies.length === 2);
      assert.deepEqual(
        readiness.map((p) => p === undefined),
        [false, true],
      );
    } finally {
      await device.endAsync(true);
      await hub.stop();
      await broker.close();
      proxy.cut();
      await proxy.close();
    }
  });
});

describe('PgHub audit retention (--audit-keep)', () => {
  it('prunes audit rows older than the kept days after its sweep, one batch at a time, each counted in the summary', async (t) => {
    const url = needDatabase(t);
    if (url === undefined) return;
    const fx = await pgIhFixture(t, url);
    const DAY = 86_400_000;
    const now = Date.now();
    const old = newDevice();
    await pgEnrollKeys(fx.store.pool, old.deviceId, [{ instance: 'device', publicKey: old.device.publicKey }], { nowMs: now - 10 * DAY });
    const broker = await startEmbeddedBroker();
    const hub = await PgHub.start({
      role: IH_ROLE,
      hubId: 'ih-pg',
      brokerUrl: broker.url,
      dbUrl: url,
      schema: fx.schema,
      signer: newSigner(),
      auditKeepDays: 3,
      sweepIntervalMs: 3_600_000, // the test sweeps by hand
      clock: () => now,
    });
    try {
      await hub.sweep();
      assert.equal(hub.stats().sweeps.pruned, 1, 'the old enrolment row went');
      const left = await pgReadAudit(fx.store.pool);
      assert.ok(left.length > 0 && left.every((e) => e.atMs >= now - 3 * DAY), 'the recent rows stay');
      const summary = await pgAuditSummary(fx.store.pool, old.deviceId);
      assert.deepEqual(
        summary.map((r) => [r.reason, r.count, r.pruned]),
        [['enrolled', 1, 1]],
      );
      await hub.sweep();
      assert.equal(hub.stats().sweeps.pruned, 1, 'nothing more to prune, and no new try within the minute');
    } finally {
      await hub.stop();
      await broker.close();
    }
  });
});
