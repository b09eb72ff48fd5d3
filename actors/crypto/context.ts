// Domain separation (docs/ARCHITECTURE.md §3): every signature covers a context string naming the
// message kind and protocol version, so a signature for one kind can never be replayed as another.

import type { Signer, Verifier } from './backend.ts';
import { CryptoError } from './errors.ts';
import { FrameArena } from '../../runtime/arena.ts';

import { SIGNATURE_CONTEXT, type SignatureContext } from '../../proto/limits.ts';

/** The context strings live with the protocol (proto/limits.ts); re-exported here for signers. */
export const CONTEXTS = SIGNATURE_CONTEXT;
export type { SignatureContext };

/**
 * The bytes actually signed: utf8(context) || 0x00 || payload. Because a context is ASCII without
 * NUL, the first 0x00 marks exactly where it ends, so distinct (context, payload) pairs can never
 * produce the same bytes, and no payload signed bare can pass as a context-signed one.
 */
export function signedBytes(context: SignatureContext, payload: Uint8Array): Uint8Array {
  const prefix = prefixes.get(context) ?? contextPrefix(context);
  const out = signed.alloc(prefix.length + payload.length);
  out.set(prefix);
  out.set(payload, prefix.length);
  return out;
}

/** Carved, not allocated: a hub builds two of these a request (runtime/arena.ts). */
const signed = new FrameArena();

/** utf8(context) || 0x00 per context, checked once: a hub signs and verifies thousands a second. */
const prefixes = new Map<string, Uint8Array>();

function contextPrefix(context: SignatureContext): Uint8Array {
  // The type already restricts `context`; this runtime check catches casts and untyped callers.
  if (typeof context !== 'string' || context.length === 0) {
    throw new CryptoError('bad-context', 'signature context must be a non-empty string');
  }
  const out = new Uint8Array(context.length + 1);
  for (let i = 0; i < context.length; i++) {
    const c = context.charCodeAt(i);
    if (c === 0 || c > 0x7f) {
      throw new CryptoError('bad-context', `signature context must be ASCII without NUL (bad character at index ${i})`);
    }
    out[i] = c; // ASCII, so this is its UTF-8 encoding
  }
  out[context.length] = 0x00;
  // Bounded: the contexts are a handful of constants; an untyped caller's strings are not kept.
  if (prefixes.size < 64) prefixes.set(context, out);
  return out;
}

export function signInContext(signer: Signer, context: SignatureContext, payload: Uint8Array): Uint8Array {
  return signer.sign(signedBytes(context, payload));
}

/** False for any bad signature; throws only for a malformed context (a programming error). */
export function verifyInContext(verifier: Verifier, context: SignatureContext, payload: Uint8Array, signature: Uint8Array): boolean {
  return verifier.verify(signedBytes(context, payload), signature);
}
