/** Signing a board's manifest with the release key (the format and its check: actors/release). */
import { CONTEXTS, hex, nodeBackend, signInContext } from '../actors/crypto/index.ts';
import type { ManifestSignature } from '../actors/release/index.ts';

/** Signs the manifest bytes; returns the bytes of `manifest.sig`. */
export function signManifest(manifestBytes: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const signer = nodeBackend().signer(secretKey);
  const sig: ManifestSignature = {
    context: CONTEXTS.manifest,
    algorithm: 'ed25519',
    keyId: hex(signer.keyId),
    signature: hex(signInContext(signer, CONTEXTS.manifest, manifestBytes)),
  };
  return new TextEncoder().encode(`${JSON.stringify(sig, null, 2)}\n`);
}
