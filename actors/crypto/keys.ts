// Key identifiers, randomness and byte helpers shared by both backends. Pure JS on purpose: none of
// this depends on which Ed25519 implementation is in use.

import { KEY_ID_LENGTH, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, type CryptoBackend } from './backend.ts';
import { requireKeyLength } from './errors.ts';

/**
 * Key id = first 16 bytes of SHA-512(publicKey). Messages carry this instead of the 32-byte key so a
 * hub can look up the enrolled key; 128 bits keeps accidental collisions out of reach.
 */
export function keyIdOf(backend: CryptoBackend, publicKey: Uint8Array): Uint8Array {
  requireKeyLength(publicKey, PUBLIC_KEY_LENGTH, 'public key');
  return backend.sha512(publicKey).slice(0, KEY_ID_LENGTH);
}

/** A fresh 32-byte Ed25519 seed from the platform CSPRNG. */
export function generateSecretKey(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(SECRET_KEY_LENGTH));
}

// getRandomValues refuses more than 65536 bytes per call; nonces are far smaller anyway.
const MAX_NONCE_LENGTH = 65536;

/** `length` random bytes (default 32) from the platform CSPRNG, for freshness challenges. */
export function randomNonce(length = 32): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > MAX_NONCE_LENGTH) {
    throw new RangeError(`randomNonce: length must be an integer in 1..${MAX_NONCE_LENGTH}, got ${length}`);
  }
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

const HEX_DIGITS = '0123456789abcdef';

/** Lower-case hex encoding. */
export function hex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    out += HEX_DIGITS[b >> 4] + HEX_DIGITS[b & 15];
  }
  return out;
}

/** Strict hex decoding: even length, hex digits only (either case); throws RangeError otherwise. */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0) throw new RangeError(`fromHex: odd length ${text.length}`);
  if (!/^[0-9a-fA-F]*$/.test(text)) throw new RangeError('fromHex: non-hex character');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Equality whose running time depends only on the lengths, not on where the inputs first differ, so
 * comparing secrets (MACs, nonces) does not leak a matching prefix. Lengths are treated as public.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
