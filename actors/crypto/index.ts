// The crypto module's single public entry point (docs/ARCHITECTURE.md §3). Import from here only; the
// other files are implementation detail. Importing has no side effects.

export {
  KEY_ID_LENGTH,
  PUBLIC_KEY_LENGTH,
  SECRET_KEY_LENGTH,
  SIGNATURE_LENGTH,
  type CryptoBackend,
  type CryptoBackendName,
  type Signer,
  type Verifier,
} from './backend.ts';
export { cryptoBackend } from './backends.ts';
export { nobleBackend } from './noble.ts';
export { nodeBackend } from './node.ts';
export { CONTEXTS, signedBytes, signInContext, verifyInContext, type SignatureContext } from './context.ts';
export { CryptoError, type CryptoErrorCode } from './errors.ts';
export { bytesEqual, fromHex, generateSecretKey, hex, keyIdOf, randomNonce } from './keys.ts';
