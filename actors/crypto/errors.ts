// Typed errors for the crypto module. Messages name lengths and codes only: key and signature bytes
// never appear, so an error that ends up in a log or on the wire leaks nothing about key material.

export type CryptoErrorCode = 'bad-key-length' | 'bad-signature-length' | 'bad-signature' | 'bad-context';

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Throws `bad-key-length` unless `bytes` is a Uint8Array of exactly `expected` bytes. Backends call
 * this before touching key material so both report the same error for the same mistake, instead of
 * leaking library-specific exceptions (noble's RangeError, OpenSSL's DER decode errors).
 */
export function requireKeyLength(bytes: Uint8Array, expected: number, what: string): void {
  if (!(bytes instanceof Uint8Array)) {
    throw new CryptoError('bad-key-length', `${what}: expected a ${expected}-byte Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length !== expected) {
    throw new CryptoError('bad-key-length', `${what}: expected ${expected} bytes, got ${bytes.length}`);
  }
}
