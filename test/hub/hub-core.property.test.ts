import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONTEXTS } from '../../actors/crypto/index.ts';
import { seal } from '../../actors/tickets/index.ts';
import { create, TicketRequestSchema, toBinary } from '../../proto/index.ts';
import type { HubDecision } from '../../actors/hub/index.ts';
import { deviceRuntime, domainRuntime, ihFixture, mutate, mutation, signedRequest } from './fixtures.ts';

const NOW = 1_764_028_800_000;

/** Every decision is well-formed: a reply exactly when not refused. */
function wellFormed(decision: HubDecision): void {
  assert.ok(['ticket', 'withheld', 'update-required', 'refused'].includes(decision.outcome));
  assert.equal(typeof decision.reason, 'string');
  assert.equal(decision.reply === undefined, decision.outcome === 'refused');
}

describe('HubCore never throws', () => {
  const fx = ihFixture();
  const valid = [
    signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes,
    signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }])).bytes,
  ];
  const payloads = [
    toBinary(
      TicketRequestSchema,
      create(TicketRequestSchema, { deviceId: fx.dev.deviceId, instance: 'device', nonce: new Uint8Array(32), runtime: deviceRuntime() }),
    ),
  ];

  it('on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const decision = fx.core.handleRequest(bytes, NOW);
        wellFormed(decision);
      }),
      { numRuns: 500 },
    );
  });

  it('on mutated valid envelopes (bad signatures: always refused)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 4 }), (bytes, mutations) => {
        const mutated = mutate(bytes, mutations);
        const decision = fx.core.handleRequest(mutated, NOW);
        wellFormed(decision);
      }),
      { numRuns: 500 },
    );
  });

  it('on mutated payloads re-signed with the enrolled key (reaches decoding and policy)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...payloads), fc.array(mutation, { minLength: 1, maxLength: 4 }), (payload, mutations) => {
        const decision = fx.core.handleRequest(seal(fx.dev.device, CONTEXTS.ticketRequest, mutate(payload, mutations)), NOW);
        wellFormed(decision);
      }),
      { numRuns: 300 },
    );
  });

  it('counted every one of them, and no internal errors', () => {
    const c = fx.core.counters();
    assert.equal(c.total, 500 + 500 + 300);
    assert.equal(c.reasons.refused['internal-error'] ?? 0, 0);
  });
});
