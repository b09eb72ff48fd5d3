// Wrong-sized inputs fail in typed, predictable ways, identically on both backends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError, cryptoBackend, generateSecretKey, keyIdOf, type CryptoErrorCode } from '../../actors/crypto/index.ts';

const isCryptoError =
  (code: CryptoErrorCode, ...mustMention: string[]) =>
  (e: unknown) => {
    assert.ok(e instanceof CryptoError, 'is a CryptoError');
    assert.equal(e.code, code);
    assert.equal(e.name, 'CryptoError');
    for (const text of mustMention) assert.ok(e.message.includes(text), `message mentions ${text}: ${e.message}`);
    return true;
  };

for (const name of ['noble', 'node'] as const) {
  describe(`bad input, ${name} backend`, () => {
    const backend = cryptoBackend(name);

    it('rejects secret keys that are not 32 bytes', () => {
      for (const len of [0, 31, 33, 64]) {
        const key = new Uint8Array(len).fill(0xab);
        assert.throws(() => backend.signer(key), isCryptoError('bad-key-length', '32', String(len)));
        assert.throws(() => backend.publicKeyOf(key), isCryptoError('bad-key-length', '32', String(len)));
      }
    });

    it('rejects public keys that are not 32 bytes', () => {
      for (const len of [0, 31, 33]) {
        assert.throws(() => backend.verifier(new Uint8Array(len)), isCryptoError('bad-key-length', '32', String(len)));
      }
      assert.throws(() => keyIdOf(backend, new Uint8Array(31)), isCryptoError('bad-key-length'));
    });

    it('error messages carry no key bytes', () => {
      const key = new Uint8Array(31).fill(0xab);
      try {
        backend.signer(key);
        assert.fail('should throw');
      } catch (e) {
        assert.ok(e instanceof CryptoError);
        assert.doesNotMatch(e.message, /ab/i);
      }
    });

    it('verify returns false, never throws, on wrong-length signatures', () => {
      const signer = backend.signer(generateSecretKey());
      const verifier = backend.verifier(signer.publicKey);
      const msg = Uint8Array.of(1, 2, 3);
      const sig = signer.sign(msg);
      assert.equal(verifier.verify(msg, sig), true);
      assert.equal(verifier.verify(msg, sig.subarray(0, 63)), false);
      assert.equal(verifier.verify(msg, new Uint8Array(65)), false);
      assert.equal(verifier.verify(msg, new Uint8Array(0)), false);
      assert.equal(verifier.verify(msg, new Uint8Array(64)), false);
    });

    it('a 32-byte public key that is not a curve point never verifies', () => {
      const verifier = backend.verifier(new Uint8Array(32).fill(0xff));
      assert.equal(verifier.verify(Uint8Array.of(1), new Uint8Array(64)), false);
    });

    it('signer and verifier keep their own copies of key bytes', () => {
      const seed = generateSecretKey();
      const signer = backend.signer(seed);
      const expected = signer.sign(Uint8Array.of(7));
      seed.fill(0);
      assert.deepEqual(signer.sign(Uint8Array.of(7)), expected);
      const pub = signer.publicKey.slice();
      const verifier = backend.verifier(pub);
      pub.fill(0);
      verifier.publicKey.fill(0);
      assert.equal(verifier.verify(Uint8Array.of(7), expected), true);
    });
  });
}
