/** Signing a board's manifest with the release key (the format and its check: actors/release). */
import { CONTEXTS, hex, nodeBackend, signInContext, type SignatureContext } from '../actors/crypto/index.ts';
import type { ManifestSignature } from '../actors/release/index.ts';

/** Signs the manifest bytes; returns the bytes of `manifest.sig`. */
export function signManifest(manifestBytes: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return signDocument(manifestBytes, secretKey, CONTEXTS.manifest);
}

/** Signs a document's bytes in `context` (the manifest, an install archive's PACK.json): the bytes of its `.sig` file. */
export function signDocument(bytes: Uint8Array, secretKey: Uint8Array, context: SignatureContext): Uint8Array {
  const signer = nodeBackend().signer(secretKey);
  const sig: ManifestSignature = {
    context,
    algorithm: 'ed25519',
    keyId: hex(signer.keyId),
    signature: hex(signInContext(signer, context, bytes)),
  };
  return new TextEncoder().encode(`${JSON.stringify(sig, null, 2)}\n`);
}
