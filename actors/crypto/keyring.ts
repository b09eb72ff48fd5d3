// The set of public keys a party accepts signatures from, looked up by key id. One prepared
// Verifier per key, built at enrolment, so the per-message cost is the verify alone.

import { KEY_ID_LENGTH, type CryptoBackend, type Verifier } from './backend.ts';
import { verifyInContext, type SignatureContext } from './context.ts';
import { CryptoError } from './errors.ts';
import { hex } from './keys.ts';

export type VerifyResult = { ok: true } | { ok: false; error: CryptoError };

const OK: VerifyResult = Object.freeze({ ok: true });

export class KeyRing {
  readonly #backend: CryptoBackend;
  readonly #verifiers = new Map<string, Verifier>(); // hex(keyId) -> Verifier

  constructor(backend: CryptoBackend, publicKeys: Iterable<Uint8Array> = []) {
    this.#backend = backend;
    for (const publicKey of publicKeys) this.add(publicKey);
  }

  /** Enrols a 32-byte public key and returns its key id; re-adding a key is a no-op. */
  add(publicKey: Uint8Array): Uint8Array {
    const verifier = this.#backend.verifier(publicKey); // throws CryptoError('bad-key-length')
    const id = hex(verifier.keyId);
    if (!this.#verifiers.has(id)) this.#verifiers.set(id, verifier);
    return verifier.keyId.slice();
  }

  has(keyId: Uint8Array): boolean {
    return this.#verifiers.has(hex(keyId));
  }

  get size(): number {
    return this.#verifiers.size;
  }

  /**
   * Checks `signature` over (context, payload) with the key named by `keyId`. Never throws: inputs
   * here come off the wire, so every failure is reported as a value.
   */
  verify(keyId: Uint8Array, context: SignatureContext, payload: Uint8Array, signature: Uint8Array): VerifyResult {
    const verifier =
      keyId instanceof Uint8Array && keyId.length === KEY_ID_LENGTH ? this.#verifiers.get(hex(keyId)) : undefined;
    if (verifier === undefined) {
      return { ok: false, error: new CryptoError('unknown-key-id', 'no enrolled public key has this key id') };
    }
    try {
      if (verifyInContext(verifier, context, payload, signature)) return OK;
    } catch (err) {
      // Only signedBytes can throw here (malformed context); keep the never-throws promise.
      if (err instanceof CryptoError) return { ok: false, error: err };
      return { ok: false, error: new CryptoError('bad-signature', 'signature could not be checked') };
    }
    return { ok: false, error: new CryptoError('bad-signature', `signature does not verify in context ${context}`) };
  }
}
