// Pure-JS backend on @noble/ed25519 v3 + @noble/hashes: audited and self-contained, the `sw`
// domain's choice (docs/ARCHITECTURE.md §3).

import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, SIGNATURE_LENGTH, type CryptoBackend, type Signer, type Verifier } from './backend.ts';
import { requireKeyLength } from './errors.ts';
import { keyIdOf } from './keys.ts';

let shared: CryptoBackend | undefined;

/**
 * The noble backend, built on first use and shared (`cryptoBackend('noble')` returns the same one).
 * Import this instead of `cryptoBackend` where only noble is wanted, so a bundle (the `sw` domain's)
 * does not carry the node backend too.
 */
export function nobleBackend(): CryptoBackend {
  return (shared ??= createNobleBackend());
}

export function createNobleBackend(): CryptoBackend {
  // noble's sync API needs a SHA-512 provider installed on its (module-global) `hashes` object.
  // Done here rather than at import so importing this module has no side effects, and only if unset
  // so we never replace a provider someone else installed.
  if (ed.hashes.sha512 === undefined) ed.hashes.sha512 = sha512;

  const backend: CryptoBackend = {
    name: 'noble',

    signer(secretKey: Uint8Array): Signer {
      requireKeyLength(secretKey, SECRET_KEY_LENGTH, 'Ed25519 secret key');
      // Signing stays on noble's audited `ed.sign`, which re-expands the seed per call (~30% of a
      // sign). `sw` signs once per ticket interval, so audited code beats a faster hand-rolled path.
      const seed = secretKey.slice();
      const publicKey = ed.getPublicKey(seed);
      const keyId = keyIdOf(backend, publicKey);
      return {
        publicKey: publicKey.slice(),
        keyId,
        sign: (message: Uint8Array): Uint8Array => ed.sign(message, seed),
      };
    },

    verifier(publicKey: Uint8Array): Verifier {
      requireKeyLength(publicKey, PUBLIC_KEY_LENGTH, 'Ed25519 public key');
      // Private copy: callers may mutate the array they passed in or the one we expose.
      const key = publicKey.slice();
      const keyId = keyIdOf(backend, key);
      return {
        publicKey: key.slice(),
        keyId,
        verify(message: Uint8Array, signature: Uint8Array): boolean {
          if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false;
          if (!(message instanceof Uint8Array)) return false;
          // Verification stays on noble's audited path rather than our own arithmetic: a bug here
          // would accept forgeries, which no vector of valid signatures can catch. Decoding the key
          // per call costs ~4% of a verify. zip215:false selects strict RFC 8032 (canonical
          // encodings, small-order keys rejected), the closest match to OpenSSL's rules.
          try {
            return ed.verify(signature, message, key, { zip215: false });
          } catch {
            return false;
          }
        },
      };
    },

    publicKeyOf(secretKey: Uint8Array): Uint8Array {
      requireKeyLength(secretKey, SECRET_KEY_LENGTH, 'Ed25519 secret key');
      return ed.getPublicKey(secretKey);
    },

    sha512(data: Uint8Array): Uint8Array {
      return sha512(data);
    },

    sha256(data: Uint8Array): Uint8Array {
      return sha256(data);
    },
  };
  return backend;
}
