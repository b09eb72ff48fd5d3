import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytesEqual, CONTEXTS, hex } from '../../actors/crypto/index.ts';
import { seal } from '../../actors/tickets/index.ts';
import { create, TicketRequestSchema, toBinary, topics, WithholdReason, type TicketReply } from '../../proto/index.ts';
import { expirySeconds, HubCore, IH_ROLE, MemoryRegistry, type HubDecision } from '../../actors/hub/index.ts';
import {
  deviceRuntime,
  digestOf,
  domainRuntime,
  enrollIH,
  ihFixture,
  makeHub,
  newDevice,
  newSigner,
  node,
  openReply,
  shFixture,
  signedRequest,
  SM,
} from './fixtures.ts';

const NOW = 1_764_028_800_123;
const MM_OK = domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }]);

function replyOf(decision: HubDecision, hubPublicKey: Uint8Array): TicketReply {
  assert.ok(decision.reply, `expected a reply, got ${decision.outcome}/${decision.reason}`);
  return openReply(decision.reply.payload, hubPublicKey);
}

function withheldReason(reply: TicketReply): { reason: WithholdReason; detail: string } {
  assert.equal(reply.outcome.case, 'withheld');
  return reply.outcome.value;
}

describe('HubCore: tickets', () => {
  it('grants a device ticket: hub-signed, nonce echoed, deferral as policy, issued now', () => {
    const fx = ihFixture();
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime('2.1.0'));
    const decision = fx.core.handleRequest(req.bytes, NOW);
    assert.equal(decision.outcome, 'ticket');
    assert.equal(decision.reason, 'granted');
    assert.equal(decision.deviceId, fx.dev.deviceId);
    assert.equal(decision.instance, 'device');
    assert.equal(decision.reply?.topic, topics.reply(fx.dev.deviceId, 'device'));
    assert.equal(decision.reply?.expirySeconds, 45); // floor(45 500 / 1000): never longer than the deferral

    const reply = replyOf(decision, fx.hub.publicKey); // verifies with the hub public key
    assert.equal(reply.deviceId, fx.dev.deviceId);
    assert.ok(bytesEqual(reply.nonce, req.nonce));
    assert.equal(reply.outcome.case, 'ticket');
    const ticket = reply.outcome.value;
    assert.equal(ticket.deviceId, fx.dev.deviceId);
    assert.equal(ticket.instance, 'device');
    assert.ok(bytesEqual(ticket.nonce, req.nonce));
    assert.equal(ticket.deferralMs, 45_500);
    assert.equal(ticket.issuedAtMs, BigInt(NOW));

    const activity = fx.registry.activity(fx.dev.deviceId, 'device');
    assert.equal(activity?.lastTicketAtMs, NOW);
    assert.equal(activity?.lastDeferralMs, 45_500);
  });

  it('grants an mm ticket when every actor is allowed and its digest matches', () => {
    const fx = ihFixture();
    const req = signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', MM_OK);
    const decision = fx.core.handleRequest(req.bytes, NOW);
    assert.equal(decision.outcome, 'ticket');
    const reply = replyOf(decision, fx.hub.publicKey);
    assert.equal(reply.outcome.case === 'ticket' && reply.outcome.value.deferralMs, 30_000);
  });

  it('caps the deferral at maxDeferralMs', () => {
    const fx = makeHub(IH_ROLE, { instances: { device: { deferralMs: 90_000, maxDeferralMs: 10_000 } } });
    const dev = newDevice();
    enrollIH(fx.registry, dev);
    const decision = fx.core.handleRequest(signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime()).bytes, NOW);
    const reply = replyOf(decision, fx.hub.publicKey);
    assert.equal(reply.outcome.case === 'ticket' && reply.outcome.value.deferralMs, 10_000);
    assert.equal(decision.reply?.expirySeconds, 10);
  });

  it('a reply signature does not verify under the request context or another key', () => {
    const fx = ihFixture();
    const decision = fx.core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW);
    assert.throws(() => replyOf(decision, newSigner().publicKey), /unknown-signer/);
  });
});

describe('HubCore: withheld and update-required', () => {
  it('withholds POLICY_FAILED for a foreign actor, naming it', () => {
    const fx = ihFixture();
    const runtime = domainRuntime([{ name: 'receiver' }, { name: 'cryptominer' }, { name: 'forwarder' }]);
    const decision = fx.core.handleRequest(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', runtime).bytes, NOW);
    assert.equal(decision.outcome, 'withheld');
    assert.equal(decision.reason, 'foreign-actor');
    const w = withheldReason(replyOf(decision, fx.hub.publicKey));
    assert.equal(w.reason, WithholdReason.POLICY_FAILED);
    assert.match(w.detail, /cryptominer/);
  });

  it('withholds POLICY_FAILED for a code digest mismatch', () => {
    const fx = ihFixture();
    const runtime = domainRuntime([{ name: 'receiver' }, { name: 'forwarder', code: 'patched forwarder' }]);
    const decision = fx.core.handleRequest(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', runtime).bytes, NOW);
    assert.equal(decision.reason, 'digest-mismatch');
    const w = withheldReason(replyOf(decision, fx.hub.publicKey));
    assert.equal(w.reason, WithholdReason.POLICY_FAILED);
    assert.match(w.detail, /forwarder/);
  });

  it('withholds QUARANTINED and REVOKED by device state, and tickets again when active', () => {
    const fx = ihFixture();
    const ask = () => fx.core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW);
    fx.registry.setState(fx.dev.deviceId, 'quarantined');
    let decision = ask();
    assert.equal(decision.reason, 'quarantined');
    assert.equal(withheldReason(replyOf(decision, fx.hub.publicKey)).reason, WithholdReason.QUARANTINED);
    fx.registry.setState(fx.dev.deviceId, 'revoked');
    decision = ask();
    assert.equal(decision.reason, 'revoked');
    assert.equal(withheldReason(replyOf(decision, fx.hub.publicKey)).reason, WithholdReason.REVOKED);
    fx.registry.setState(fx.dev.deviceId, 'active');
    assert.equal(ask().outcome, 'ticket');
  });

  it('demands an update for firmware below the minimum', () => {
    const fx = ihFixture();
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime('1.9.7'));
    const decision = fx.core.handleRequest(req.bytes, NOW);
    assert.equal(decision.outcome, 'update-required');
    assert.equal(decision.reason, 'firmware-too-old');
    const reply = replyOf(decision, fx.hub.publicKey);
    assert.ok(bytesEqual(reply.nonce, req.nonce));
    assert.equal(reply.outcome.case, 'updateRequired');
    const update = reply.outcome.value;
    assert.equal(update.domain, 'device');
    assert.equal(update.version, '2.1.0');
    assert.ok(bytesEqual(update.imageDigest, digestOf('firmware-2.1.0')));
    assert.equal(update.sizeBytes, 4096n);
    // A pre-release of the minimum is older than the minimum itself.
    assert.equal(
      fx.core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime('2.0.0-rc.1')).bytes, NOW).outcome,
      'update-required',
    );
    assert.equal(
      fx.core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime('v2.0')).bytes, NOW).outcome,
      'ticket',
    );
  });

  it('withholds firmware it cannot order', () => {
    const fx = ihFixture();
    const decision = fx.core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime('nightly')).bytes, NOW);
    assert.equal(decision.outcome, 'withheld');
    assert.equal(decision.reason, 'firmware-unparseable');
  });

  it('operator switches: withhold / resume, and requireUpdate until the image runs', () => {
    const fx = ihFixture();
    const ask = (runtime = MM_OK) => fx.core.handleRequest(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', runtime).bytes, NOW);
    fx.policy.withhold(fx.dev.deviceId, undefined, 'incident 42');
    let decision = ask();
    assert.equal(decision.reason, 'operator-withheld');
    const w = withheldReason(replyOf(decision, fx.hub.publicKey));
    assert.equal(w.reason, WithholdReason.OPERATOR);
    assert.equal(w.detail, 'incident 42');
    fx.policy.resume(fx.dev.deviceId);
    assert.equal(ask().outcome, 'ticket');

    fx.policy.withhold(fx.dev.deviceId, 'device');
    assert.equal(ask().outcome, 'ticket', 'a withhold on device leaves mm alone');
    fx.policy.resume(fx.dev.deviceId, 'device');

    fx.policy.requireUpdate(fx.dev.deviceId, 'mm', {
      version: 'mm-7',
      imageDigest: digestOf('mm-7'),
      fetchTopic: 'dominion/v1/images/mm/7',
      sizeBytes: 100,
      releaseVersion: 7,
    });
    decision = ask();
    assert.equal(decision.outcome, 'update-required');
    assert.equal(decision.reason, 'operator-update');
    const ok = domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }], 'mm-7');
    assert.equal(ask(ok).outcome, 'ticket', 'the demand is met once the new image runs');
  });

  it('WRONG_HUB when an SH gets mm or another service, from keys in a shared registry', () => {
    // One registry shared by hubs of several roles (one database): the SH can authenticate the
    // request but must not answer for instances it does not dominate.
    const shared = new MemoryRegistry(node);
    const sh = shFixture(shared);
    shared.enroll(sh.dev.deviceId, 'mm', sh.dev.mm.publicKey);
    const other = newSigner();
    shared.enroll(sh.dev.deviceId, 'sm:other', other.publicKey);

    for (const [signer, instance] of [
      [sh.dev.mm, 'mm'],
      [other, 'sm:other'],
    ] as const) {
      const decision = sh.core.handleRequest(signedRequest(signer, sh.dev.deviceId, instance, MM_OK).bytes, NOW);
      assert.equal(decision.outcome, 'withheld', instance);
      assert.equal(decision.reason, 'wrong-hub');
      assert.equal(withheldReason(replyOf(decision, sh.hub.publicKey)).reason, WithholdReason.WRONG_HUB);
    }
    const own = sh.core.handleRequest(signedRequest(sh.dev.sm, sh.dev.deviceId, SM, MM_OK).bytes, NOW);
    assert.equal(own.outcome, 'ticket');
  });

  it('WRONG_HUB when the IH gets a service instance', () => {
    const fx = ihFixture();
    fx.registry.enroll(fx.dev.deviceId, SM, fx.dev.sm.publicKey);
    const decision = fx.core.handleRequest(signedRequest(fx.dev.sm, fx.dev.deviceId, SM, MM_OK).bytes, NOW);
    assert.equal(decision.reason, 'wrong-hub');
  });
});

describe('HubCore: authenticated but invalid requests', () => {
  it('WITHHELD MALFORMED, signed, naming the first problem, when a validly signed request lacks manifest_digest', () => {
    const fx = ihFixture();
    const runtime = deviceRuntime();
    if (runtime.report?.case === 'device') runtime.report.value.manifestDigest = new Uint8Array(0);
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', runtime);
    const decision = fx.core.handleRequest(req.bytes, NOW);
    assert.deepEqual([decision.outcome, decision.reason], ['withheld', 'malformed-request']);
    const reply = replyOf(decision, fx.hub.publicKey);
    assert.ok(bytesEqual(reply.nonce, req.nonce));
    const { reason, detail } = withheldReason(reply);
    assert.equal(reason, WithholdReason.MALFORMED);
    assert.match(detail, /^runtime\.device\.manifest_digest: /);
    assert.equal(decision.reply?.topic, topics.reply(fx.dev.deviceId, 'device'));
    assert.equal(fx.audit.entries().at(-1)?.reason, 'malformed-request');
  });

  it('a missing firmware_version is named too', () => {
    const fx = ihFixture();
    const decision = fx.core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime('')).bytes, NOW);
    assert.match(withheldReason(replyOf(decision, fx.hub.publicKey)).detail, /^runtime\.device\.firmware_version: must be set/);
  });

  it('the same request with a bad signature still gets silence', () => {
    const fx = ihFixture();
    const runtime = deviceRuntime();
    if (runtime.report?.case === 'device') runtime.report.value.manifestDigest = new Uint8Array(0);
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', runtime);
    const decision = fx.core.handleRequest(tamperSignature(req.bytes), NOW);
    assert.deepEqual([decision.outcome, decision.reason, decision.reply], ['refused', 'bad-signature', undefined]);
  });

  it("an invalid request naming another device or instance than the signer's, or a short nonce, gets silence", () => {
    const fx = ihFixture();
    const bad = (fields: { deviceId?: string; instance?: string; nonce?: Uint8Array }) =>
      seal(
        fx.dev.device,
        CONTEXTS.ticketRequest,
        toBinary(
          TicketRequestSchema,
          create(TicketRequestSchema, { deviceId: fx.dev.deviceId, instance: 'device', nonce: new Uint8Array(32), ...fields }),
        ),
      );
    assert.equal(fx.core.handleRequest(bad({ deviceId: 'someone-else' }), NOW).reason, 'key-device-mismatch');
    assert.equal(fx.core.handleRequest(bad({ instance: 'mm' }), NOW).reason, 'key-instance-mismatch');
    assert.equal(fx.core.handleRequest(bad({ nonce: new Uint8Array(31) }), NOW).reason, 'malformed-payload');
    // Right signer, right nonce, no runtime: authenticated, so answered.
    assert.equal(fx.core.handleRequest(bad({}), NOW).reason, 'malformed-request');
  });
});

describe('HubCore: MQTT 5 message expiry', () => {
  it('whole seconds, rounded down, so never longer than the deferral', () => {
    assert.equal(expirySeconds(1_500), 1);
    assert.equal(expirySeconds(60_000), 60);
    assert.equal(expirySeconds(45_500), 45);
    assert.equal(expirySeconds(1_000), 1);
  });

  it('a 1,500 ms ticket expires after 1 s', () => {
    const fx = makeHub(IH_ROLE, { instances: { device: { deferralMs: 1_500 } } });
    const dev = newDevice();
    enrollIH(fx.registry, dev);
    const decision = fx.core.handleRequest(signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime()).bytes, NOW);
    assert.equal(decision.reply?.expirySeconds, 1);
  });
});

describe('HubCore: refused (no reply)', () => {
  function refused(decision: HubDecision, reason: string): void {
    assert.equal(decision.outcome, 'refused');
    assert.equal(decision.reason, reason);
    assert.equal(decision.reply, undefined);
  }

  it('garbage bytes', () => {
    const fx = ihFixture();
    refused(fx.core.handleRequest(new Uint8Array([1, 2, 3, 0xff]), NOW), 'malformed-envelope');
    refused(fx.core.handleRequest(new Uint8Array(0), NOW), 'malformed-envelope');
  });

  it('wrong context', () => {
    const fx = ihFixture();
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime(), CONTEXTS.ticketReply);
    refused(fx.core.handleRequest(req.bytes, NOW), 'wrong-context');
  });

  it('unknown key id', () => {
    const fx = ihFixture();
    refused(fx.core.handleRequest(signedRequest(newSigner(), fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW), 'unknown-signer');
  });

  it('bad signature', () => {
    const fx = ihFixture();
    const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime());
    refused(fx.core.handleRequest(tamperSignature(req.bytes), NOW), 'bad-signature');
    // A genuine signature by another key, under the enrolled key id.
    const forged = tamperSignature(req.bytes, newSigner().sign(new Uint8Array([1])));
    refused(fx.core.handleRequest(forged, NOW), 'bad-signature');
  });

  it('a payload that is not a valid TicketRequest', () => {
    const fx = ihFixture();
    const bad = create(TicketRequestSchema, { deviceId: fx.dev.deviceId, instance: 'device', nonce: new Uint8Array(5) });
    refused(
      fx.core.handleRequest(seal(fx.dev.device, CONTEXTS.ticketRequest, toBinary(TicketRequestSchema, bad)), NOW),
      'malformed-payload',
    );
  });

  it('a K_SM or K_MM key used for the device instance', () => {
    const shared = new MemoryRegistry(node);
    const fx = makeHub(IH_ROLE, { default: { deferralMs: 1000 } }, shared);
    const dev = newDevice();
    enrollIH(shared, dev);
    shared.enroll(dev.deviceId, SM, dev.sm.publicKey);
    refused(fx.core.handleRequest(signedRequest(dev.sm, dev.deviceId, 'device', deviceRuntime()).bytes, NOW), 'key-instance-mismatch');
    refused(fx.core.handleRequest(signedRequest(dev.mm, dev.deviceId, 'device', deviceRuntime()).bytes, NOW), 'key-instance-mismatch');
  });

  it("another device's key", () => {
    const fx = ihFixture();
    const other = newDevice();
    enrollIH(fx.registry, other);
    refused(
      fx.core.handleRequest(signedRequest(other.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW),
      'key-device-mismatch',
    );
  });
});

describe('HubCore: counters and audit', () => {
  it('count every decision by outcome and reason, and audit each without key or ticket bytes', () => {
    const fx = ihFixture();
    const { core, dev } = fx;
    const req = signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime());
    core.handleRequest(req.bytes, NOW);
    core.handleRequest(signedRequest(dev.mm, dev.deviceId, 'mm', domainRuntime([{ name: 'x' }])).bytes, NOW + 1);
    core.handleRequest(signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime('1.0.0')).bytes, NOW + 2);
    core.handleRequest(new Uint8Array([9, 9, 9]), NOW + 3);
    core.handleRequest(tamperSignature(req.bytes), NOW + 4);
    core.handleRequest(tamperSignature(req.bytes), NOW + 5);

    const c = core.counters();
    assert.equal(c.total, 6);
    assert.deepEqual(c.outcomes, { ticket: 1, withheld: 1, 'update-required': 1, refused: 3 });
    assert.deepEqual(c.reasons.refused, { 'malformed-envelope': 1, 'bad-signature': 2 });
    assert.deepEqual(c.reasons.withheld, { 'foreign-actor': 1 });
    assert.deepEqual(c.reasons.ticket, { granted: 1 });
    assert.deepEqual(c.reasons['update-required'], { 'firmware-too-old': 1 });
    assert.equal(c.auditFailures, 0);

    const entries = fx.audit.entries();
    assert.equal(entries.length, 6);
    assert.deepEqual(
      entries.map((e) => [e.atMs, e.outcome, e.reason]),
      [
        [NOW, 'ticket', 'granted'],
        [NOW + 1, 'withheld', 'foreign-actor'],
        [NOW + 2, 'update-required', 'firmware-too-old'],
        [NOW + 3, 'refused', 'malformed-envelope'],
        [NOW + 4, 'refused', 'bad-signature'],
        [NOW + 5, 'refused', 'bad-signature'],
      ],
    );
    assert.equal(entries[0].deviceId, dev.deviceId);
    assert.equal(entries[0].deferralMs, 45_500);
    assert.equal(entries[3].deviceId, undefined, 'unauthenticated input names no device');
    const text = JSON.stringify(entries, (_k, v: unknown) => (v instanceof Uint8Array ? '<bytes>' : v));
    assert.ok(!text.includes('<bytes>'), 'audit holds no byte fields');
    for (const secret of [req.nonce, fx.hub.publicKey, dev.device.publicKey]) assert.ok(!text.includes(hex(secret)));
  });

  it('a failing audit backend is counted, and the reply still goes out', () => {
    const fx = ihFixture();
    const core = new HubCore({
      role: IH_ROLE,
      registry: fx.registry,
      policy: fx.policy,
      signer: fx.hub,
      audit: {
        append() {
          throw new Error('disk full');
        },
      },
    });
    const decision = core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, NOW);
    assert.equal(decision.outcome, 'ticket');
    assert.equal(core.counters().auditFailures, 1);
  });
});

/**
 * Flips one bit of the envelope's signature (field 2, 64 bytes), or replaces the signature with
 * `replacement`, leaving the rest intact.
 */
function tamperSignature(envelope: Uint8Array, replacement?: Uint8Array): Uint8Array {
  const out = new Uint8Array(envelope);
  // Walk the top-level fields: tag, then length-delimited value.
  let i = 0;
  while (i < out.length) {
    const tag = out[i++];
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = out[i++];
      len |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    if (tag === 0x12 && len === 64) {
      if (replacement === undefined) out[i + 10] ^= 0x01;
      else out.set(replacement, i);
      return out;
    }
    i += len;
  }
  throw new Error('no signature field found');
}
