/**
 * The SQLite-backed hub never crashes and audits everything: random bytes, mutated valid envelopes,
 * mutated payloads re-signed with the enrolled key, and replays, committed in batches as the server
 * does. Every decision has its audit row; no decision is an internal error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONTEXTS } from '../../actors/crypto/index.ts';
import { seal } from '../../actors/tickets/index.ts';
import { create, SignedEnvelopeSchema, TicketRequestSchema, toBinary } from '../../proto/index.ts';
import { changeDeviceState, enrollKeys, readAudit } from '../../actors/hub/sqlite/index.ts';
import type { HubDecision } from '../../actors/hub/index.ts';
import { deviceRuntime, domainRuntime, mutate, mutation, newDevice, signedRequest, sqliteIhFixture } from './fixtures.ts';

const NOW = 1_764_028_800_000;

describe('SQLite-backed hub: hostile input', () => {
  const fx = sqliteIhFixture();
  const revoked = newDevice();
  enrollKeys(fx.store.db, revoked.deviceId, [{ instance: 'device', publicKey: revoked.device.publicKey }]);
  changeDeviceState(fx.store.db, revoked.deviceId, 'revoke');
  const stranger = newDevice(); // never enrolled
  let decisions = 0;
  const auditBefore = readAudit(fx.store.db).length;
  const decide = (bytes: Uint8Array): HubDecision => {
    const d = fx.ask(bytes, NOW + decisions);
    decisions++;
    assert.equal(d.reply === undefined, d.outcome === 'refused');
    if (decisions % 37 === 0) fx.commit(); // batches of varying content, as the server commits them
    return d;
  };
  const payload = toBinary(
    TicketRequestSchema,
    create(TicketRequestSchema, {
      deviceId: fx.dev.deviceId,
      instance: 'device',
      nonce: new Uint8Array(32).fill(1),
      runtime: deviceRuntime(),
    }),
  );

  it('random bytes, including oversized ones', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.uint8Array({ minLength: 70_000, maxLength: 70_100 })), (bytes) => {
        assert.equal(decide(bytes).outcome, 'refused');
      }),
      { numRuns: 300 },
    );
  });

  it('mutated valid envelopes: a ticket only for an intact signed payload, and only once', () => {
    const valid = [
      signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes,
      signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', domainRuntime([{ name: 'receiver' }])).bytes,
    ];
    // A mutation can leave the signed payload intact (an appended unknown field, a cut of nothing):
    // that request is genuine and gets its ticket once; every later copy is a replay.
    let tickets = 0;
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 4 }), (bytes, mutations) => {
        if (decide(mutate(bytes, mutations)).outcome === 'ticket') tickets++;
      }),
      { numRuns: 300 },
    );
    assert.ok(tickets <= valid.length, `${tickets} tickets for ${valid.length} signed requests`);
  });

  it('mutated payloads re-signed with the enrolled key reach decoding and policy', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        decide(seal(fx.dev.device, CONTEXTS.ticketRequest, mutate(payload, mutations)));
      }),
      { numRuns: 200 },
    );
  });

  it('unsigned, unknown-device, revoked-device, wrongly signed and replayed requests', () => {
    const unsigned = toBinary(
      SignedEnvelopeSchema,
      create(SignedEnvelopeSchema, {
        payload,
        signature: new Uint8Array(0),
        signerKeyId: fx.dev.device.keyId,
        context: CONTEXTS.ticketRequest,
      }),
    );
    fc.assert(
      fc.property(fc.constantFrom('unsigned', 'stranger', 'revoked', 'wrong-key', 'replay') as fc.Arbitrary<string>, (kind) => {
        if (kind === 'unsigned') assert.ok(['malformed-envelope', 'bad-signature'].includes(decide(unsigned).reason));
        else if (kind === 'stranger')
          assert.equal(decide(signedRequest(stranger.device, stranger.deviceId, 'device', deviceRuntime()).bytes).reason, 'unknown-signer');
        else if (kind === 'revoked')
          assert.equal(decide(signedRequest(revoked.device, revoked.deviceId, 'device', deviceRuntime()).bytes).reason, 'revoked');
        else if (kind === 'wrong-key')
          assert.equal(decide(signedRequest(fx.dev.mm, fx.dev.deviceId, 'device', deviceRuntime()).bytes).reason, 'key-instance-mismatch');
        else {
          const req = signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes;
          assert.equal(decide(req).outcome, 'ticket');
          assert.equal(decide(req).reason, 'replayed');
        }
      }),
      { numRuns: 100 },
    );
  });

  it('every decision was counted and has its audit row; none was an internal error', () => {
    fx.commit();
    const audit = readAudit(fx.store.db);
    assert.equal(audit.length - auditBefore, decisions);
    const c = fx.core.counters();
    assert.equal(c.total, decisions);
    assert.equal(c.auditFailures, 0);
    assert.equal(c.reasons.refused['internal-error'] ?? 0, 0);
    assert.ok((c.reasons.refused.replayed ?? 0) > 0 && (c.reasons.withheld.revoked ?? 0) > 0);
    fx.store.close();
  });
});
