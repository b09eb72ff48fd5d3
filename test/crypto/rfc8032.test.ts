// Both backends must reproduce RFC 8032 §7.1 exactly: public key, signature, and verification.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cryptoBackend, fromHex, hex } from '../../actors/crypto/index.ts';
import { RFC8032_VECTORS } from './rfc8032-vectors.ts';

for (const name of ['noble', 'node'] as const) {
  describe(`RFC 8032 §7.1 vectors, ${name} backend`, () => {
    const backend = cryptoBackend(name);
    for (const v of RFC8032_VECTORS) {
      it(v.name, () => {
        const secretKey = fromHex(v.secretKey);
        const message = fromHex(v.message);
        assert.equal(hex(backend.publicKeyOf(secretKey)), v.publicKey, 'publicKeyOf');
        const signer = backend.signer(secretKey);
        assert.equal(hex(signer.publicKey), v.publicKey, 'signer.publicKey');
        const signature = signer.sign(message);
        assert.equal(signature.length, 64);
        assert.equal(hex(signature), v.signature, 'signature');
        const verifier = backend.verifier(fromHex(v.publicKey));
        assert.equal(verifier.verify(message, fromHex(v.signature)), true, 'verify');
        assert.deepEqual(verifier.keyId, signer.keyId);
      });
    }
  });
}
