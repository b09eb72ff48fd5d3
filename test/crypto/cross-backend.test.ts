// Ed25519 is deterministic, so the two backends must agree byte for byte on every input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as ed from '@noble/ed25519';
import { cryptoBackend, hex } from '../../actors/crypto/index.ts';

const noble = cryptoBackend('noble');
const node = cryptoBackend('node');

describe('noble and node backends agree', () => {
  it('same public key, key id and signature; each verifies the other', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 0, maxLength: 300 }), (seed, message) => {
        const a = noble.signer(seed);
        const b = node.signer(seed);
        assert.equal(hex(a.publicKey), hex(b.publicKey));
        assert.equal(hex(a.keyId), hex(b.keyId));
        const sigA = a.sign(message);
        const sigB = b.sign(message);
        assert.equal(hex(sigA), hex(sigB));
        assert.equal(node.verifier(a.publicKey).verify(message, sigA), true);
        assert.equal(noble.verifier(b.publicKey).verify(message, sigB), true);
      }),
      { numRuns: 100 },
    );
  });

  it('both reject the same tampered signatures', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.nat({ max: 64 * 8 - 1 }),
        (seed, message, bit) => {
          const signer = node.signer(seed);
          const sig = signer.sign(message);
          sig[bit >> 3] ^= 1 << (bit & 7);
          assert.equal(noble.verifier(signer.publicKey).verify(message, sig), false);
          assert.equal(node.verifier(signer.publicKey).verify(message, sig), false);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('sha512 agrees', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), (data) => {
        assert.equal(hex(noble.sha512(data)), hex(node.sha512(data)));
      }),
    );
  });
});

describe('noble signer and ed.sign agree', () => {
  it('the signer (seed expanded once) gives ed.sign’s bytes, message after message', () => {
    const seed = new Uint8Array(32).fill(0x42);
    const signer = noble.signer(seed);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (message) => {
        assert.equal(hex(signer.sign(message)), hex(ed.sign(message, seed)));
      }),
      { numRuns: 100 },
    );
  });
});
