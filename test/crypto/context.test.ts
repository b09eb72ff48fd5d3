// A signature made for one message kind must never verify as another kind or as a bare payload.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTEXTS,
  CryptoError,
  cryptoBackend,
  fromHex,
  signedBytes,
  signInContext,
  verifyInContext,
  type SignatureContext,
} from '../../actors/crypto/index.ts';

const ALL: readonly SignatureContext[] = Object.values(CONTEXTS);
const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const payload = new TextEncoder().encode('runtime-info: uptime=42');

describe('signedBytes', () => {
  it('is utf8(context) || 0x00 || payload', () => {
    const bytes = signedBytes(CONTEXTS.manifest, Uint8Array.of(1, 2));
    assert.deepEqual(bytes, Uint8Array.from([...new TextEncoder().encode('dominion/v1/manifest'), 0, 1, 2]));
  });

  it('lists nine distinct versioned contexts', () => {
    assert.equal(new Set(ALL).size, 9);
    for (const c of ALL) assert.match(c, /^dominion\/v1\/[a-z-]+$/);
  });

  it('rejects contexts with NUL, non-ASCII or nothing in them', () => {
    for (const bad of ['dominion/v1/x\0y', 'dominion/v1/tïcket', '']) {
      assert.throws(
        () => signedBytes(bad as SignatureContext, payload),
        (e: unknown) => e instanceof CryptoError && e.code === 'bad-context',
      );
    }
  });
});

for (const name of ['noble', 'node'] as const) {
  describe(`context separation, ${name} backend`, () => {
    const backend = cryptoBackend(name);
    const signer = backend.signer(seed);
    const verifier = backend.verifier(signer.publicKey);

    for (const context of ALL) {
      it(`${context} verifies only in its own context`, () => {
        const sig = signInContext(signer, context, payload);
        assert.equal(verifyInContext(verifier, context, payload, sig), true);
        for (const other of ALL) {
          if (other !== context) assert.equal(verifyInContext(verifier, other, payload, sig), false, other);
        }
        assert.equal(verifier.verify(payload, sig), false, 'bare payload');
      });
    }

    it('a bare-payload signature does not verify in any context', () => {
      const sig = signer.sign(payload);
      for (const context of ALL) assert.equal(verifyInContext(verifier, context, payload, sig), false);
    });

    it('any flipped bit in payload or signature fails', () => {
      const context = CONTEXTS.ticketReply;
      const sig = signInContext(signer, context, payload);
      for (let bit = 0; bit < payload.length * 8; bit++) {
        const p = payload.slice();
        p[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(verifyInContext(verifier, context, p, sig), false, `payload bit ${bit}`);
      }
      for (let bit = 0; bit < sig.length * 8; bit++) {
        const s = sig.slice();
        s[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(verifyInContext(verifier, context, payload, s), false, `signature bit ${bit}`);
      }
    });
  });
}

it('signed bytes are a fresh region each time: one kept is never overwritten by the next', () => {
  const a = signedBytes(CONTEXTS.ticketRequest, new Uint8Array(200).fill(1));
  const kept = Uint8Array.from(a);
  for (let i = 0; i < 2000; i++) signedBytes(CONTEXTS.ticketReply, new Uint8Array(200).fill(2));
  assert.deepStrictEqual(a, kept);
});
