/**
 * A hub whose commits are slow (an asynchronous store, as PostgreSQL far away) keeps at most
 * `maxPending` decisions waiting (actors/hub/hub-server.ts): requests past that are dropped undecided
 * and counted, never answered; once the commit comes back, every decision that waited is answered.
 * Memory and the age of answers stay bounded however long a commit takes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { awaitConnected, connectMqtt, startEmbeddedBroker, toBuffer } from '../../actors/mqtt/index.ts';
import { HubCore, HubServer, IH_ROLE } from '../../actors/hub/index.ts';
import type { CommitResult, HubEffects, HubStore } from '../../actors/hub/effects.ts';
import { topics } from '../../proto/index.ts';
import { within } from '../mqtt/wait.ts';
import { deviceRuntime, ihFixture, openReply, signedRequest, uniqueId } from './fixtures.ts';

/** The fixture's in-memory store, committing only when the test lets it. */
class GatedStore implements HubStore {
  readonly batched = true;
  readonly committed: HubEffects[][] = [];
  private open: () => void = () => {};
  private gate = new Promise<void>((resolve) => (this.open = resolve));
  constructor(private readonly inner: HubStore) {}
  get view(): HubStore['view'] {
    return this.inner.view;
  }
  tryCommit(batch: readonly HubEffects[]): boolean {
    return this.inner.tryCommit(batch);
  }
  commit(batch: readonly HubEffects[]): void {
    this.inner.commit(batch);
  }
  async commitAsync(batch: readonly HubEffects[]): Promise<CommitResult> {
    await this.gate;
    this.inner.commit(batch);
    this.committed.push([...batch]);
    return { replayed: new Set() };
  }
  release(): void {
    this.open();
  }
}

describe('a hub behind a slow commit', () => {
  it('holds at most maxPending decisions, drops the rest undecided (counted), answers every one it held', async () => {
    const broker = await startEmbeddedBroker();
    const fx = ihFixture();
    const store = new GatedStore(fx.core.store);
    const core = new HubCore({ role: IH_ROLE, signer: fx.hub, store });
    const hubId = uniqueId('ih');
    const hub = await HubServer.start({ core, brokerUrl: broker.url, hubId, maxBatch: 4, maxPending: 8 });
    const device = connectMqtt(broker.url, { clientId: uniqueId('dev') });
    try {
      await awaitConnected(device);
      await device.subscribeAsync(topics.replySubscription(fx.dev.deviceId), { qos: 1 });
      const replies: Buffer[] = [];
      device.on('message', (topic, payload) => void (topic === topics.reply(fx.dev.deviceId, 'device') && replies.push(payload)));
      const SENT = 40;
      const requests = Array.from({ length: SENT }, () => signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()));
      for (const r of requests) await device.publishAsync(topics.hubRequest(hubId, fx.dev.deviceId), toBuffer(r.bytes), { qos: 1 });
      await within(10_000, 'every request received', (done) => {
        const t = setInterval(() => hub.stats().received === SENT && done(undefined), 5);
        return () => clearInterval(t);
      });
      const held = SENT - hub.stats().backlogDrops;
      // The first batch (1 to maxBatch requests) went to the gated commit; exactly maxPending waited behind it.
      assert.ok(held >= 1 + 8 && held <= 4 + 8, `held ${held}: the batch in flight plus maxPending`);
      assert.equal(hub.stats().backlogDrops, SENT - held, 'the rest dropped undecided, counted');
      assert.equal(replies.length, 0, 'nothing answered before its commit');

      store.release();
      await within(10_000, 'every held decision answered', (done) => {
        const t = setInterval(() => replies.length === held && done(undefined), 5);
        return () => clearInterval(t);
      });
      const answered = new Set(replies.map((p) => Buffer.from(openReply(p, fx.hub.publicKey).nonce).toString('hex')));
      const kept = requests.filter((r) => answered.has(Buffer.from(r.nonce).toString('hex')));
      assert.equal(kept.length, held, 'each reply answers one of the requests sent');
      assert.equal(store.committed.flat().length, held, 'and each was committed before its reply');
    } finally {
      await device.endAsync(true);
      await hub.stop();
      await broker.close();
    }
  });
});
