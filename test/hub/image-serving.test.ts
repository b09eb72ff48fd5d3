/**
 * Serving published releases in chunks (decide-image.ts): what a chunk holds, every refusal, the
 * per-device rate limit under an injected clock, unauthenticated input, and what is (not) written.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytesEqual, CONTEXTS, randomNonce } from '../../actors/crypto/index.ts';
import { IMAGE_ANSWERS_PER_NONCE, IMAGE_BURST_CHUNKS, IMAGE_CHUNKS_PER_SECOND, type HubDecision } from '../../actors/hub/index.ts';
import { changeDeviceState, publishArtifacts, readAudit, readRelease } from '../../actors/hub/sqlite/index.ts';
import { verifyReleaseImage } from '../../actors/release/index.ts';
import { lanes, topics, WithholdReason, type ImageChunk } from '../../proto/index.ts';
import { mutate, shFixture, SM, sqliteIhFixture, tempDir, type SqliteFixture } from './fixtures.ts';
import { imageRequest, openChunk, type ImageAsk } from './exchanges.ts';
import { newReleaseKey, writeArtifacts, type Artifacts, type ReleaseKeyPair } from './release-fixture.ts';

const T0 = 1_764_028_800_000;

interface Serving extends SqliteFixture {
  readonly built: Artifacts;
  readonly key: ReleaseKeyPair;
  /** Asks for a chunk of `label` (signed with K_I for sw/hypervisor, K_MM for mm). */
  chunk(ask: Partial<ImageAsk>, nowMs?: number): { decision: HubDecision; chunk?: ImageChunk };
}

function serving(): Serving {
  const fx = sqliteIhFixture();
  const key = newReleaseKey();
  const built = writeArtifacts(tempDir(), { key, version: 3 });
  publishArtifacts(fx.store.db, built.dir, { releasePub: key.publicKey });
  return {
    ...fx,
    built,
    key,
    chunk(ask, nowMs = T0) {
      const label = ask.label ?? 'sw';
      const instance = ask.instance ?? (label === 'mm' ? 'mm' : 'device');
      const signer = instance === 'mm' ? fx.dev.mm : fx.dev.device;
      const req = imageRequest(signer, { deviceId: fx.dev.deviceId, instance, label, version: 3, board: 'rpi4', ...ask });
      const decision = fx.ask(req.bytes, nowMs);
      fx.commit();
      return { decision, ...(decision.reply !== undefined ? { chunk: openChunk(decision.reply.payload, fx.hub.publicKey) } : {}) };
    },
  };
}

function refusal(c: ImageChunk | undefined): WithholdReason | undefined {
  return c?.refused?.reason;
}

describe('image serving: chunks', () => {
  it('chunks reassemble to the published bundle; the manifest and its signature come at offset 0 only', () => {
    const fx = serving();
    try {
      const bundle = fx.built.bundles.get('sw')!;
      const parts: Uint8Array[] = [];
      let manifest: Uint8Array | undefined;
      let signature: Uint8Array | undefined;
      for (let offset = 0; offset < bundle.length;) {
        const { decision, chunk } = fx.chunk({ offset });
        assert.equal(decision.outcome, 'chunk');
        assert.equal(decision.reply!.topic, topics.reply(fx.dev.deviceId, lanes.image('device')));
        assert.equal(decision.reply!.topic, `dominion/v1/device/${fx.dev.deviceId}/reply/image.device`);
        assert.equal(decision.reply!.expirySeconds, 30);
        assert.ok(chunk !== undefined);
        assert.equal(chunk.deviceId, fx.dev.deviceId);
        assert.equal(chunk.instance, 'device');
        assert.equal(chunk.label, 'sw');
        assert.equal(chunk.version, 3n);
        assert.equal(chunk.offset, BigInt(offset));
        assert.equal(chunk.totalBytes, BigInt(bundle.length));
        assert.equal(chunk.data.length, Math.min(32 * 1024, bundle.length - offset));
        if (offset === 0) {
          manifest = chunk.manifest;
          signature = chunk.manifestSignature;
        } else assert.equal(chunk.manifest.length + chunk.manifestSignature.length, 0, 'manifest at offset 0 only');
        parts.push(chunk.data);
        offset += chunk.data.length;
      }
      assert.equal(parts.length, 4, '100 000 bytes in chunks of 32 KiB');
      const whole = Buffer.concat(parts);
      assert.ok(bytesEqual(whole, bundle));
      assert.ok(bytesEqual(manifest!, fx.built.manifest) && bytesEqual(signature!, fx.built.signature));
      // What the device then checks, against the key it pinned.
      const verified = verifyReleaseImage({ manifest: manifest!, signature: signature!, bundle: whole }, 'sw', fx.key.publicKey, 'rpi4');
      assert.equal(verified.version, 3);

      const small = fx.chunk({ offset: 1000, maxBytes: 100 }).chunk!;
      assert.ok(bytesEqual(small.data, bundle.subarray(1000, 1100)));
      const end = fx.chunk({ offset: bundle.length }).chunk!;
      assert.equal(end.data.length, 0, 'at the end: an empty chunk, still valid');
      const mm = fx.chunk({ label: 'mm' });
      assert.equal(mm.decision.reply!.topic, topics.reply(fx.dev.deviceId, lanes.image('mm')));
      assert.ok(bytesEqual(mm.chunk!.data, fx.built.bundles.get('mm')!), 'mm (20 000 bytes) in one chunk, asked with K_MM');
    } finally {
      fx.store.close();
    }
  });

  it('no database write per chunk: one audit row per completed fetch, not repeated within the window', () => {
    const fx = serving();
    try {
      const rows = (): number => readAudit(fx.store.db).length;
      const commits = (): number => fx.store.journal.stats().commits;
      const before = { rows: rows(), commits: commits() };
      fx.chunk({ offset: 0 });
      fx.chunk({ offset: 32 * 1024 });
      assert.deepEqual({ rows: rows(), commits: commits() }, before, 'plain chunks: no transaction at all');
      fx.chunk({ offset: 98_304 }); // the last chunk completes the fetch
      const fetched = readAudit(fx.store.db).filter((e) => e.outcome === 'image');
      assert.equal(fetched.length, 1);
      assert.equal(fetched[0]!.reason, 'fetched');
      assert.equal(fetched[0]!.deviceId, fx.dev.deviceId);
      assert.equal(fetched[0]!.instance, 'device');
      assert.match(fetched[0]!.detail!, /^sw release 3 \(board rpi4\), 100000 bytes$/);
      fx.chunk({ offset: 98_304 }, T0 + 1000);
      fx.chunk({ offset: 98_304 }, T0 + 2000);
      assert.equal(readAudit(fx.store.db).filter((e) => e.outcome === 'image').length, 1, 'a last chunk asked in a loop is audited once');
      fx.chunk({ offset: 98_304 }, T0 + 11 * 60_000);
      assert.equal(readAudit(fx.store.db).filter((e) => e.outcome === 'image').length, 2, 'a fetch again later is audited again');
      const c = fx.core.counters().images;
      assert.equal(c.outcomes.chunk, 6);
      assert.equal(c.bytes, 32 * 1024 * 2 + 4 * 1696);
    } finally {
      fx.store.close();
    }
  });

  it('a quarantined device is served (it must repair itself); a revoked one gets REVOKED and no bytes', () => {
    const fx = serving();
    try {
      changeDeviceState(fx.store.db, fx.dev.deviceId, 'quarantine', 'incident');
      const q = fx.chunk({});
      assert.equal(q.decision.outcome, 'chunk');
      assert.equal(q.chunk!.data.length, 32 * 1024);
      changeDeviceState(fx.store.db, fx.dev.deviceId, 'revoke', 'stolen');
      const r = fx.chunk({});
      assert.equal(r.decision.outcome, 'chunk-refused');
      assert.equal(r.decision.reason, 'revoked');
      assert.equal(refusal(r.chunk), WithholdReason.REVOKED);
      assert.equal(r.chunk!.data.length + r.chunk!.manifest.length + Number(r.chunk!.totalBytes), 0);
    } finally {
      fx.store.close();
    }
  });
});

describe('image serving: refusals', () => {
  it('NOT_PUBLISHED and MALFORMED, each signed, echoing the request, counted by reason, not audited', () => {
    const fx = serving();
    try {
      const audited = readAudit(fx.store.db).length;
      const cases: Array<[Partial<ImageAsk>, WithholdReason, RegExp]> = [
        [{ version: 9 }, WithholdReason.NOT_PUBLISHED, /no release 9 of sw for board rpi4/],
        [{ board: 'nitrogen8m' }, WithholdReason.NOT_PUBLISHED, /for board nitrogen8m/],
        [{ version: 2n ** 63n }, WithholdReason.NOT_PUBLISHED, /no release/],
        [{ maxBytes: 0 }, WithholdReason.MALFORMED, /^max_bytes: must be 1–32768, got 0$/],
        [{ maxBytes: 32 * 1024 + 1 }, WithholdReason.MALFORMED, /^max_bytes:/],
        [{ board: 'a b' }, WithholdReason.MALFORMED, /^board:/],
        [{ instance: 'mm', label: 'sw' }, WithholdReason.MALFORMED, /^label: instance mm may not ask for the image of sw$/],
        [{ offset: 100_001 }, WithholdReason.MALFORMED, /^offset: past the end of the image \(100000 bytes\)$/],
      ];
      for (const [ask, reason, detail] of cases) {
        const { decision, chunk } = fx.chunk(ask);
        assert.equal(
          decision.outcome,
          'chunk-refused',
          JSON.stringify(ask, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
        );
        assert.equal(refusal(chunk), reason);
        assert.match(chunk!.refused!.detail, detail);
        assert.equal(chunk!.nonce.length, 32);
        assert.equal(chunk!.data.length, 0);
      }
      const c = fx.core.counters().images.reasons['chunk-refused'];
      assert.deepEqual(c, { 'not-published': 3, 'malformed-request': 5 });
      assert.equal(readAudit(fx.store.db).length, audited, 'answered refusals are counted, not audited');
    } finally {
      fx.store.close();
    }
  });

  it('WRONG_HUB: a service hub that holds an mm key does not serve the IH images', () => {
    const sh = shFixture();
    sh.registry.enroll(sh.dev.deviceId, 'mm', sh.dev.mm.publicKey); // a mis-enrolment
    const core = sh.core;
    const ask = (signer: typeof sh.dev.mm, instance: string, label: string): ImageChunk => {
      const d = core.handleRequest(
        imageRequest(signer, { deviceId: sh.dev.deviceId, instance, label, version: 1, board: 'rpi4' }).bytes,
        T0,
      );
      assert.ok(d.reply !== undefined, d.reason);
      return openChunk(d.reply.payload, sh.hub.publicKey);
    };
    assert.equal(refusal(ask(sh.dev.mm, 'mm', 'mm')), WithholdReason.WRONG_HUB);
    // Its own service: not published in this (in-memory) hub.
    assert.equal(refusal(ask(sh.dev.sm, SM, SM)), WithholdReason.NOT_PUBLISHED);
  });

  it('rate limit: a burst of 64 chunks, then 4 a second; RATE_LIMITED spends nothing', () => {
    const fx = serving();
    try {
      assert.equal(IMAGE_BURST_CHUNKS, 64);
      assert.equal(IMAGE_CHUNKS_PER_SECOND, 4);
      for (let i = 0; i < IMAGE_BURST_CHUNKS; i++) assert.equal(fx.chunk({ offset: 0, maxBytes: 1 }).decision.outcome, 'chunk', `#${i}`);
      const limited = fx.chunk({}, T0);
      assert.equal(limited.decision.reason, 'rate-limited');
      assert.equal(refusal(limited.chunk), WithholdReason.RATE_LIMITED);
      assert.equal(fx.chunk({}, T0 + 100).decision.reason, 'rate-limited', '0.4 of a token');
      assert.equal(fx.chunk({}, T0 + 250).decision.outcome, 'chunk', 'one token after 250 ms');
      assert.equal(fx.chunk({}, T0 + 250).decision.reason, 'rate-limited');
      assert.equal(fx.chunk({}, T0 + 400).decision.reason, 'rate-limited', 'refused requests spent nothing, but nothing refilled either');
      assert.equal(fx.chunk({}, T0 + 500).decision.outcome, 'chunk');
      // Another instance of the same device shares the device's bucket.
      assert.equal(fx.chunk({ label: 'mm' }, T0 + 500).decision.reason, 'rate-limited');
      // A clock that goes back refills nothing.
      assert.equal(fx.chunk({}, T0 - 60_000).decision.reason, 'rate-limited');
      // After 16 s the bucket is full again: a whole burst.
      let served = 0;
      while (fx.chunk({ maxBytes: 1 }, T0 + 17_000).decision.outcome === 'chunk') served++;
      assert.equal(served, IMAGE_BURST_CHUNKS);
      assert.equal(fx.core.counters().images.reasons['chunk-refused']['rate-limited'], 7);
    } finally {
      fx.store.close();
    }
  });
});

describe('image serving: what gets no reply', () => {
  it('a tampered envelope, an unknown signer, a request naming another instance than its key: no reply, audited', () => {
    const fx = serving();
    try {
      const good = imageRequest(fx.dev.device, { deviceId: fx.dev.deviceId, instance: 'device', label: 'sw', version: 3, board: 'rpi4' });
      const tampered = new Uint8Array(good.bytes);
      tampered[20] ^= 0x01; // inside the signed payload
      const cases: Array<[Uint8Array, string]> = [
        [tampered, 'bad-signature'],
        [mutate(good.bytes, [{ kind: 'cut', at: 30 }]), 'malformed-envelope'],
        [
          imageRequest(fx.dev.mm, { deviceId: fx.dev.deviceId, instance: 'device', label: 'sw', version: 3, board: 'rpi4' }).bytes,
          'key-instance-mismatch',
        ],
        [
          imageRequest(fx.dev.sm, { deviceId: fx.dev.deviceId, instance: SM, label: SM, version: 3, board: 'rpi4' }).bytes,
          'unknown-signer',
        ],
        [
          imageRequest(fx.dev.device, { deviceId: 'someone-else', instance: 'device', label: 'sw', version: 3, board: 'rpi4' }).bytes,
          'key-device-mismatch',
        ],
      ];
      for (const [bytes, reason] of cases) {
        const d = fx.ask(bytes, T0);
        assert.equal(d.reply, undefined, reason);
        assert.equal(d.reason, reason);
      }
      fx.commit();
      const refused = readAudit(fx.store.db).filter((e) => e.outcome === 'refused');
      assert.deepEqual(
        refused.map((e) => e.reason),
        cases.map(([, r]) => r),
      );
      // The bytes that were signed for an image request do not pass as a ticket request, nor a chunk as a request.
      const asTicket = imageRequest(
        fx.dev.device,
        { deviceId: fx.dev.deviceId, instance: 'device', label: 'sw', version: 3, board: 'rpi4' },
        CONTEXTS.imageChunk,
      );
      assert.equal(fx.ask(asTicket.bytes, T0).reason, 'wrong-context');
      fx.commit();
      // Whatever does not even decode as an envelope, or names another context, is the ticket path's to refuse.
      assert.equal(fx.core.counters().images.outcomes.refused, cases.length - 1);
      assert.deepEqual(fx.core.counters().reasons.refused, { 'malformed-envelope': 1, 'wrong-context': 1 });
    } finally {
      fx.store.close();
    }
  });

  it(`a repeated nonce is answered ${IMAGE_ANSWERS_PER_NONCE} times (the device resends after silence), then not at all`, () => {
    const fx = serving();
    try {
      const nonce = randomNonce(32);
      const req = imageRequest(fx.dev.device, {
        deviceId: fx.dev.deviceId,
        instance: 'device',
        label: 'sw',
        version: 3,
        board: 'rpi4',
        nonce,
      });
      const answers = [];
      for (let i = 0; i < IMAGE_ANSWERS_PER_NONCE + 2; i++) answers.push(fx.ask(req.bytes, T0 + i));
      fx.commit();
      assert.deepEqual(
        answers.map((d) => d.reason),
        [...Array(IMAGE_ANSWERS_PER_NONCE).fill('served'), 'replayed', 'replayed'],
      );
      assert.ok(bytesEqual(answers[0]!.reply!.payload, answers[1]!.reply!.payload), 'the same signed chunk again');
      assert.ok(readRelease(fx.store.db, 'rpi4', 'sw', 3) !== undefined);
    } finally {
      fx.store.close();
    }
  });
});
