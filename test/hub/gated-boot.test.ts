/**
 * Gated boot on the IH (decide-boot.ts): a grant bound to the boot nonce, the manifest and the exact
 * images; withheld for device state, operator withholds and images below a required release; what
 * gets no reply; every decision audited, and what the device reported recorded.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytesEqual, hex, randomNonce } from '../../actors/crypto/index.ts';
import { DEFAULT_INITIAL_TIMEOUT_MS, MemoryRegistry, type HubDecision } from '../../actors/hub/index.ts';
import {
  changeDeviceState,
  publishArtifacts,
  readAudit,
  releaseTarget,
  requireInstanceUpdate,
  setFleetPolicy,
  withholdInstance,
} from '../../actors/hub/sqlite/index.ts';
import { bootImagesBytes, lanes, topics, UpdateState, WithholdReason, type BootTicket } from '../../proto/index.ts';
import {
  digestOf,
  node,
  openReply,
  shFixture,
  signedRequest,
  sqliteIhFixture,
  tempDir,
  type RuntimeInit,
  type SqliteFixture,
} from './fixtures.ts';
import { bootRequest, openBootTicket, type BootInit } from './exchanges.ts';
import { newReleaseKey, writeArtifacts } from './release-fixture.ts';

const T0 = 1_764_028_800_000;

function images(sw = 3n, hypervisor = sw, mm = sw): BootInit['images'] {
  return [
    { label: 'sw', version: sw, digest: digestOf(`sw ${sw}`) },
    { label: 'hypervisor', version: hypervisor, digest: digestOf(`hypervisor ${hypervisor}`) },
    { label: 'mm', version: mm, digest: digestOf(`mm ${mm}`) },
    { label: 'sm:weather', version: 1n, digest: digestOf('weather 1') },
  ];
}

function bootInit(fx: SqliteFixture, over: Partial<BootInit> = {}): BootInit {
  return {
    deviceId: fx.dev.deviceId,
    bootNonce: randomNonce(32),
    manifestDigest: digestOf('manifest 3'),
    firmwareVersion: '0.1.3',
    bootCount: 17n,
    images: images(),
    ...over,
  };
}

/** Asks and commits, as the server does before it publishes. */
function boot(fx: SqliteFixture, init: BootInit, nowMs = T0): { decision: HubDecision; ticket?: BootTicket } {
  const decision = fx.ask(bootRequest(fx.dev.device, init), nowMs);
  fx.commit();
  return { decision, ...(decision.reply !== undefined ? { ticket: openBootTicket(decision.reply.payload, fx.hub.publicKey) } : {}) };
}

describe('gated boot: the IH grants', () => {
  it('a boot ticket bound to the boot nonce, the manifest and exactly the reported images; audited and recorded', () => {
    const fx = sqliteIhFixture();
    try {
      const init = bootInit(fx);
      const { decision, ticket } = boot(fx, init);
      assert.equal(decision.exchange, 'boot');
      assert.equal(decision.outcome, 'boot-granted');
      assert.equal(decision.reply!.topic, topics.reply(fx.dev.deviceId, lanes.boot));
      assert.equal(decision.reply!.topic, `dominion/v1/device/${fx.dev.deviceId}/reply/boot`);
      assert.equal(decision.reply!.expirySeconds, 60);
      assert.ok(ticket !== undefined);
      assert.equal(ticket.deviceId, fx.dev.deviceId);
      assert.ok(bytesEqual(ticket.bootNonce, init.bootNonce));
      assert.ok(bytesEqual(ticket.manifestDigest, init.manifestDigest));
      const expected = node.sha512(
        bootImagesBytes(images().map((i) => ({ label: i.label!, version: i.version as bigint, digest: i.digest! }))),
      );
      assert.ok(bytesEqual(ticket.imagesDigest, expected), 'images_digest = SHA-512(bootImagesBytes(images))');
      assert.equal(ticket.initialTimeoutMs, 45_500, "the device instance's deferral under its policy");
      assert.equal(ticket.withheld, undefined);

      // The same boot nonce is answered again: sw asks again with it while it waits.
      assert.equal(boot(fx, init).decision.outcome, 'boot-granted');
      // Other images, another digest: the grant holds for exactly what was reported.
      const other = boot(fx, { ...init, images: images(4n) }).ticket!;
      assert.ok(!bytesEqual(other.imagesDigest, ticket.imagesDigest));

      const rows = readAudit(fx.store.db).filter((e) => e.outcome === 'boot-granted');
      assert.equal(rows.length, 3);
      assert.equal(rows[0]!.reason, 'granted');
      assert.equal(rows[0]!.instance, 'device');
      assert.equal(rows[0]!.ref, hex(init.bootNonce.subarray(0, 8)));
      assert.match(rows[0]!.detail!, /^boot 17, firmware 0\.1\.3, 4 images; initial timeout 45500 ms$/);
      const stored = fx.store.db.prepare('SELECT boot_count, firmware_version, images, outcome FROM device_boot').get() as {
        boot_count: number;
        firmware_version: string;
        images: string;
        outcome: string;
      };
      assert.equal(stored.boot_count, 17);
      assert.equal(stored.outcome, 'boot-granted');
      assert.deepEqual(
        (JSON.parse(stored.images) as Array<{ label: string; version: number }>).map((i) => [i.label, i.version]),
        [
          ['sw', 4],
          ['hypervisor', 4],
          ['mm', 4],
          ['sm:weather', 1],
        ],
      );
      assert.deepEqual(fx.core.counters().boot.outcomes, { 'boot-granted': 3, 'boot-withheld': 0, refused: 0 });
      assert.equal(fx.core.counters().total, 0, 'boot decisions are not ticket decisions');
    } finally {
      fx.store.close();
    }
  });

  it(`without a policy for the device instance: initial timeout ${DEFAULT_INITIAL_TIMEOUT_MS} ms`, () => {
    const fx = sqliteIhFixture();
    try {
      setFleetPolicy(fx.store.db, undefined);
      assert.equal(boot(fx, bootInit(fx)).ticket!.initialTimeoutMs, DEFAULT_INITIAL_TIMEOUT_MS);
    } finally {
      fx.store.close();
    }
  });
});

describe('gated boot: withheld', () => {
  it('QUARANTINED, REVOKED by device state, with initial_timeout_ms 0; audited as boot-withheld', () => {
    const fx = sqliteIhFixture();
    try {
      changeDeviceState(fx.store.db, fx.dev.deviceId, 'quarantine', 'incident 9');
      let { decision, ticket } = boot(fx, bootInit(fx));
      assert.equal(decision.outcome, 'boot-withheld');
      assert.equal(decision.reason, 'quarantined');
      assert.equal(ticket!.withheld?.reason, WithholdReason.QUARANTINED);
      assert.equal(ticket!.initialTimeoutMs, 0);
      changeDeviceState(fx.store.db, fx.dev.deviceId, 'release');
      assert.equal(boot(fx, bootInit(fx)).decision.outcome, 'boot-granted');
      changeDeviceState(fx.store.db, fx.dev.deviceId, 'revoke', 'stolen');
      ({ decision, ticket } = boot(fx, bootInit(fx)));
      assert.equal(ticket!.withheld?.reason, WithholdReason.REVOKED);
      assert.deepEqual(
        readAudit(fx.store.db)
          .filter((e) => e.outcome.startsWith('boot-'))
          .map((e) => [e.outcome, e.reason]),
        [
          ['boot-withheld', 'quarantined'],
          ['boot-granted', 'granted'],
          ['boot-withheld', 'revoked'],
        ],
      );
    } finally {
      fx.store.close();
    }
  });

  it('an operator withhold on the device (or the whole device) withholds the boot: OPERATOR; one on mm does not', () => {
    const fx = sqliteIhFixture();
    try {
      withholdInstance(fx.store.db, fx.dev.deviceId, 'mm', 'mm only');
      assert.equal(boot(fx, bootInit(fx)).decision.outcome, 'boot-granted');
      withholdInstance(fx.store.db, fx.dev.deviceId, undefined, 'forced recovery');
      const { decision, ticket } = boot(fx, bootInit(fx));
      assert.equal(decision.reason, 'operator-withheld');
      assert.equal(ticket!.withheld?.reason, WithholdReason.OPERATOR);
      assert.equal(ticket!.withheld?.detail, 'forced recovery');
    } finally {
      fx.store.close();
    }
  });

  it('require-update --release: a boot below the release is POLICY_FAILED; tickets ask for the release until the slots show it', () => {
    const fx = sqliteIhFixture();
    try {
      const key = newReleaseKey();
      const built = writeArtifacts(tempDir(), { key, version: 5 });
      publishArtifacts(fx.store.db, built.dir, { releasePub: key.publicKey });
      const target = releaseTarget(fx.store.db, 'device', 5);
      requireInstanceUpdate(fx.store.db, fx.dev.deviceId, 'device', target);

      let { decision, ticket } = boot(fx, bootInit(fx, { images: images(3n, 5n, 3n) }));
      assert.equal(decision.reason, 'image-too-old');
      assert.equal(ticket!.withheld?.reason, WithholdReason.POLICY_FAILED);
      assert.equal(ticket!.withheld?.detail, 'sw runs release 3; release 5 is required');
      ({ decision, ticket } = boot(fx, bootInit(fx, { images: images(5n, 4n, 3n) })));
      assert.equal(ticket!.withheld?.detail, 'hypervisor runs release 4; release 5 is required');
      assert.equal(boot(fx, bootInit(fx, { images: images(5n, 5n, 3n) })).decision.outcome, 'boot-granted', 'mm is not required');
      ({ ticket } = boot(fx, bootInit(fx, { images: images(5n).filter((i) => i.label !== 'hypervisor') })));
      assert.equal(ticket!.withheld?.detail, 'no hypervisor image reported; release 5 is required');

      // The ticket path: UPDATE_REQUIRED names the published release, until the slot reports show it.
      const state = (sw: bigint, hv: bigint): RuntimeInit => ({
        report: {
          case: 'device',
          value: {
            firmwareVersion: '2.1.0',
            manifestDigest: digestOf('manifest'),
            slots: [
              { label: 'sw', version: sw, slot: 'a', update: UpdateState.COMMITTED },
              { label: 'hypervisor', version: hv, slot: 'a' },
            ],
          },
        },
      });
      const d = fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', state(5n, 3n)).bytes, T0);
      fx.commit();
      assert.equal(d.outcome, 'update-required');
      const reply = openReply(d.reply!.payload, fx.hub.publicKey);
      assert.ok(reply.outcome.case === 'updateRequired');
      const u = reply.outcome.value;
      assert.equal(u.version, '5');
      assert.equal(u.releaseVersion, 5n);
      assert.equal(u.fetchTopic, topics.hubRequestBase('ih-test'));
      assert.equal(u.sizeBytes, 120_000n);
      assert.ok(bytesEqual(u.imageDigest, node.sha512(built.manifest)), 'image_digest: SHA-512 of the manifest');
      const met = fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', state(5n, 5n)).bytes, T0);
      assert.equal(met.outcome, 'ticket', 'met once both slots run release 5');

      // mm's release: its boot image, and its slot report.
      requireInstanceUpdate(fx.store.db, fx.dev.deviceId, 'mm', releaseTarget(fx.store.db, 'mm', 5));
      ({ ticket } = boot(fx, bootInit(fx, { images: images(5n, 5n, 4n) })));
      assert.equal(ticket!.withheld?.detail, 'mm runs release 4; release 5 is required');
      const mmAt = (version: bigint, label = 'mm'): RuntimeInit => ({
        report: {
          case: 'domain',
          value: {
            actors: [{ name: 'receiver', codeDigest: digestOf('receiver') }],
            slot: { label, version, slot: 'b', update: UpdateState.TRIAL },
          },
        },
      });
      const mmAsk = (runtime: RuntimeInit): string => fx.ask(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', runtime).bytes, T0).outcome;
      assert.equal(mmAsk(mmAt(4n)), 'update-required');
      assert.equal(mmAsk(mmAt(5n, 'sm:weather')), 'update-required', "another label's slot does not count");
      assert.equal(mmAsk(mmAt(5n)), 'ticket');
      fx.commit();
    } finally {
      fx.store.close();
    }
  });
});

describe('gated boot: no grant, no reply', () => {
  it('an SH never grants a boot: WRONG_HUB if it holds K_I, no reply if it does not', () => {
    const shared = new MemoryRegistry(node);
    const sh = shFixture(shared);
    const req = (signer = sh.dev.device): Uint8Array =>
      bootRequest(signer, {
        deviceId: sh.dev.deviceId,
        bootNonce: randomNonce(32),
        manifestDigest: digestOf('m'),
        firmwareVersion: '1',
        images: images(),
      });
    let d = sh.core.handleRequest(req(), T0);
    assert.equal(d.reply, undefined);
    assert.equal(d.reason, 'unknown-signer');
    shared.enroll(sh.dev.deviceId, 'device', sh.dev.device.publicKey); // one registry for several roles
    d = sh.core.handleRequest(req(), T0);
    assert.equal(d.outcome, 'boot-withheld');
    const ticket = openBootTicket(d.reply!.payload, sh.hub.publicKey);
    assert.equal(ticket.withheld?.reason, WithholdReason.WRONG_HUB);
    assert.equal(ticket.initialTimeoutMs, 0);
  });

  it('K_MM never asks for a boot; bad signatures and unknown keys get nothing; invalid requests get MALFORMED when it can be valid', () => {
    const fx = sqliteIhFixture();
    try {
      const asMm = fx.ask(bootRequest(fx.dev.mm, bootInit(fx)), T0);
      assert.deepEqual([asMm.reason, asMm.reply], ['key-instance-mismatch', undefined]);
      const tampered = bootRequest(fx.dev.device, bootInit(fx));
      tampered[10] ^= 0x40;
      assert.equal(fx.ask(tampered, T0).reply, undefined);
      assert.equal(fx.ask(bootRequest(fx.dev.sm, bootInit(fx)), T0).reason, 'unknown-signer');
      const shortNonce = fx.ask(bootRequest(fx.dev.device, bootInit(fx, { bootNonce: new Uint8Array(8) })), T0);
      assert.deepEqual([shortNonce.reason, shortNonce.reply], ['malformed-payload', undefined]);

      const malformed = fx.ask(bootRequest(fx.dev.device, bootInit(fx, { images: [] })), T0);
      assert.equal(malformed.outcome, 'boot-withheld');
      assert.equal(malformed.reason, 'malformed-request');
      const t = openBootTicket(malformed.reply!.payload, fx.hub.publicKey);
      assert.equal(t.withheld?.reason, WithholdReason.MALFORMED);
      assert.equal(t.withheld?.detail, 'images: must be set');
      // No manifest digest to echo: a MALFORMED ticket could not be valid, so none is sent.
      const unanswerable = fx.ask(bootRequest(fx.dev.device, bootInit(fx, { manifestDigest: new Uint8Array(0) })), T0);
      assert.deepEqual([unanswerable.reason, unanswerable.reply], ['reply-invalid', undefined]);
      fx.commit();
      assert.equal(fx.store.db.prepare('SELECT count(*) FROM device_boot').pluck().get(), 0, 'nothing recorded from invalid requests');
      const refused = readAudit(fx.store.db)
        .filter((e) => e.outcome === 'refused')
        .map((e) => e.reason);
      assert.deepEqual(refused, ['key-instance-mismatch', 'bad-signature', 'unknown-signer', 'malformed-payload', 'reply-invalid']);
    } finally {
      fx.store.close();
    }
  });
});
