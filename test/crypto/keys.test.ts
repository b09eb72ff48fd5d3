import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytesEqual, cryptoBackend, fromHex, generateSecretKey, hex, keyIdOf, randomNonce } from '../../actors/crypto/index.ts';

// FIPS 180-2 Appendix C.1: SHA-512("abc").
const SHA512_ABC =
  'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f';

for (const name of ['noble', 'node'] as const) {
  describe(`hashing and key ids, ${name} backend`, () => {
    const backend = cryptoBackend(name);

    it('sha512("abc") matches FIPS 180-2', () => {
      assert.equal(hex(backend.sha512(new TextEncoder().encode('abc'))), SHA512_ABC);
    });

    it('key id is the first 16 bytes of SHA-512(public key)', () => {
      const signer = backend.signer(generateSecretKey());
      const expected = backend.sha512(signer.publicKey).subarray(0, 16);
      assert.equal(hex(keyIdOf(backend, signer.publicKey)), hex(expected));
      assert.equal(hex(signer.keyId), hex(expected));
      assert.equal(hex(backend.verifier(signer.publicKey).keyId), hex(expected));
    });
  });
}

describe('backend registry', () => {
  it('memoises each backend', () => {
    assert.equal(cryptoBackend('noble'), cryptoBackend('noble'));
    assert.equal(cryptoBackend('node'), cryptoBackend('node'));
    assert.equal(cryptoBackend('noble').name, 'noble');
    assert.equal(cryptoBackend('node').name, 'node');
  });
});

describe('randomness', () => {
  it('nonces default to 32 bytes and differ', () => {
    const a = randomNonce();
    const b = randomNonce();
    assert.equal(a.length, 32);
    assert.equal(b.length, 32);
    assert.notEqual(hex(a), hex(b));
    assert.equal(randomNonce(12).length, 12);
    assert.throws(() => randomNonce(0), RangeError);
    assert.throws(() => randomNonce(1.5), RangeError);
  });

  it('secret keys are 32 fresh bytes', () => {
    const a = generateSecretKey();
    assert.equal(a.length, 32);
    assert.notEqual(hex(a), hex(generateSecretKey()));
  });
});

describe('byte helpers', () => {
  it('hex round-trips', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.equal(hex(bytes).length, 512);
    assert.deepEqual(fromHex(hex(bytes)), bytes);
    assert.deepEqual(fromHex('ABcd'), Uint8Array.of(0xab, 0xcd));
    assert.equal(hex(new Uint8Array(0)), '');
  });

  it('fromHex rejects malformed input', () => {
    assert.throws(() => fromHex('abc'), RangeError);
    assert.throws(() => fromHex('zz'), RangeError);
    assert.throws(() => fromHex('0x00'), RangeError);
  });

  it('bytesEqual compares content and length', () => {
    assert.equal(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), true);
    assert.equal(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)), false);
    assert.equal(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2)), false);
    assert.equal(bytesEqual(new Uint8Array(0), new Uint8Array(0)), true);
  });
});
