// The one small interface both Ed25519 backends implement (docs/ARCHITECTURE.md §3). Callers pick a
// backend by name and never see which library sits underneath; both must give byte-identical
// signatures (Ed25519 is deterministic), which the test suite checks.

export const SECRET_KEY_LENGTH = 32; // RFC 8032 seed, not the 64-byte expanded form
export const PUBLIC_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;
export const KEY_ID_LENGTH = 16;

export type CryptoBackendName = 'noble' | 'node';

/** Holds prepared secret-key material so each `sign` skips key parsing and expansion. */
export interface Signer {
  readonly publicKey: Uint8Array;
  /** First 16 bytes of SHA-512(publicKey); see `keyIdOf`. */
  readonly keyId: Uint8Array;
  /** Returns a 64-byte Ed25519 signature over `message`. */
  sign(message: Uint8Array): Uint8Array;
}

/**
 * Holds a prepared public key (hubs keep one per enrolled device key, since building one costs
 * a fifth of a verify in the node backend).
 */
export interface Verifier {
  readonly publicKey: Uint8Array;
  readonly keyId: Uint8Array;
  /** False for any invalid input, including wrong-length signatures; never throws. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
  /**
   * Says the key is pinned: checked again and again for a long life (a device's hub key, `pinned` in
   * actors/tickets/envelope.ts). The backend may then spend memory once to make each verify cheaper
   * (noble: a table of the key's multiples, docs/ARCHITECTURE.md §3). Same answers either way.
   */
  pin(): void;
}

export interface CryptoBackend {
  readonly name: CryptoBackendName;
  /** `secretKey` is a 32-byte Ed25519 seed; throws CryptoError('bad-key-length') otherwise. */
  signer(secretKey: Uint8Array): Signer;
  /** `publicKey` is 32 bytes; throws CryptoError('bad-key-length') otherwise. */
  verifier(publicKey: Uint8Array): Verifier;
  publicKeyOf(secretKey: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  /** SHA-256: sealed service data lists its records' digests in it (docs/PROTOCOL.md). */
  sha256(data: Uint8Array): Uint8Array;
}
