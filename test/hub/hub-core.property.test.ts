import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONTEXTS } from '../../actors/crypto/index.ts';
import { seal } from '../../actors/tickets/index.ts';
import { create, TicketRequestSchema, toBinary } from '../../proto/index.ts';
import type { HubDecision } from '../../actors/hub/index.ts';
import { deviceRuntime, domainRuntime, ihFixture, signedRequest } from './fixtures.ts';

const NOW = 1_764_028_800_000;

type Mutation = { kind: 'flip'; at: number; mask: number } | { kind: 'cut'; at: number } | { kind: 'insert'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = new Uint8Array(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] ^= m.mask;
    else if (m.kind === 'cut') out = out.slice(0, at);
    else out = new Uint8Array([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
  }
  return out;
}

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
    toBinary(TicketRequestSchema, create(TicketRequestSchema, { deviceId: fx.dev.deviceId, instance: 'device', nonce: new Uint8Array(32), runtime: deviceRuntime() })),
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
