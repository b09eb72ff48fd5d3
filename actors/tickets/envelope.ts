/**
 * Signed envelopes: the only form in which ticket-path messages travel. `seal` signs a payload in its
 * context (so a signature for one message kind never verifies as another); `open` checks shape,
 * context, signer and signature before anyone decodes the payload.
 */
import { signInContext, verifyInContext, type SignatureContext, type Signer, type Verifier } from '../crypto/index.ts';
import { bytesEqual } from '../crypto/index.ts';
import { createLite, SignedEnvelopeLite, signedEnvelopeLiteCodec, toBinaryLite, type SignedEnvelope } from '../../proto/index.ts';
import { TicketError } from './errors.ts';

/** Signs `payload` in `context` and returns the encoded SignedEnvelope. */
export function seal(signer: Signer, context: SignatureContext, payload: Uint8Array): Uint8Array {
  const envelope = createLite(SignedEnvelopeLite, {
    payload,
    signature: signInContext(signer, context, payload),
    signerKeyId: signer.keyId,
    context,
  });
  return toBinaryLite(SignedEnvelopeLite, envelope);
}

export type Opened =
  { readonly ok: true; readonly payload: Uint8Array; readonly keyId: Uint8Array } | { readonly ok: false; readonly error: TicketError };

/** Finds the verifier for a key id; `undefined` when the signer is not known here. */
export type VerifierLookup = (keyId: Uint8Array) => Verifier | undefined;

/**
 * A lookup that accepts exactly one pinned key. The key is checked for the device's life, so the
 * verifier may prepare it once (noble builds a table of its multiples; docs/ARCHITECTURE.md §3).
 */
export function pinned(verifier: Verifier): VerifierLookup {
  verifier.pin();
  return (keyId) => (bytesEqual(keyId, verifier.keyId) ? verifier : undefined);
}

/** Decodes (bounded) and verifies an envelope; never throws. */
export function open(bytes: Uint8Array, context: SignatureContext, lookup: VerifierLookup): Opened {
  const decoded = signedEnvelopeLiteCodec.tryDecode(bytes);
  if (!decoded.ok) return fail('malformed-envelope', decoded.error.detail);
  const env: SignedEnvelope = decoded.message;
  if (env.context !== context) return fail('wrong-context', `expected ${context}, got ${env.context.slice(0, 64)}`);
  const verifier = lookup(env.signerKeyId);
  if (verifier === undefined) return fail('unknown-signer', 'the signer key id is not known here');
  if (!verifyInContext(verifier, context, env.payload, env.signature))
    return fail('bad-signature', `signature does not verify in ${context}`);
  return { ok: true, payload: env.payload, keyId: env.signerKeyId };
}

function fail(code: TicketError['code'], detail: string): Opened {
  return { ok: false, error: new TicketError(code, detail) };
}
