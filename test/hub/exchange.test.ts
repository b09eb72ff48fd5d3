/** Telling the exchanges apart by context (exchange.ts), checked against a full envelope decode. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONTEXTS } from '../../actors/crypto/index.ts';
import { exchangeOf } from '../../actors/hub/index.ts';
import { MAX_WIRE_BYTES, SignedEnvelopeSchema, tryDecodeBounded } from '../../proto/index.ts';
import { deviceRuntime, digestOf, mutate, mutation, newDevice, signedRequest } from './fixtures.ts';
import { bootRequest, imageRequest } from './exchanges.ts';

const dev = newDevice('board-1');
const ticket = signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime()).bytes;
const image = imageRequest(dev.device, { deviceId: dev.deviceId, instance: 'device', label: 'sw', version: 1, board: 'rpi4' }).bytes;
const boot = bootRequest(dev.device, {
  deviceId: dev.deviceId,
  bootNonce: new Uint8Array(32),
  manifestDigest: digestOf('m'),
  firmwareVersion: '1',
  images: [{ label: 'sw', version: 1n, digest: digestOf('sw') }],
});

describe('exchangeOf', () => {
  it('reads the context of each request kind; anything else is the ticket path’s to refuse', () => {
    assert.equal(exchangeOf(ticket), 'ticket');
    assert.equal(exchangeOf(image), 'image');
    assert.equal(exchangeOf(boot), 'boot');
    assert.equal(exchangeOf(signedRequest(dev.device, dev.deviceId, 'device', deviceRuntime(), CONTEXTS.bootTicket).bytes), 'ticket');
    for (const junk of [new Uint8Array(0), new Uint8Array([0x08, 0x01]), new Uint8Array([0x22, 0x7f]), new Uint8Array(70_000)]) {
      assert.equal(exchangeOf(junk), 'ticket');
    }
  });

  it('agrees with a full decode of the envelope whenever it decodes', () => {
    const contextOf = (bytes: Uint8Array): string | undefined => {
      const d = tryDecodeBounded(SignedEnvelopeSchema, bytes, MAX_WIRE_BYTES.signedEnvelope);
      return d.ok ? d.message.context : undefined;
    };
    fc.assert(
      fc.property(fc.constantFrom(ticket, image, boot), fc.array(mutation, { maxLength: 3 }), (base, mutations) => {
        const bytes = mutate(base, mutations);
        const context = contextOf(bytes);
        if (context === undefined) return;
        const expected = context === CONTEXTS.bootRequest ? 'boot' : context === CONTEXTS.imageRequest ? 'image' : 'ticket';
        assert.equal(exchangeOf(bytes), expected);
      }),
      { numRuns: 2000 },
    );
  });
});
