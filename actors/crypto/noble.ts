// Pure-JS backend on @noble/ed25519 v3 + @noble/hashes: audited and self-contained, the `sw`
// domain's choice (docs/ARCHITECTURE.md §3).

import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, SIGNATURE_LENGTH, type CryptoBackend, type Signer, type Verifier } from './backend.ts';
import { requireKeyLength } from './errors.ts';
import { bytesEqual, keyIdOf } from './keys.ts';

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
      // The seed is expanded once, by noble's own `getExtendedPublicKey`, where `ed.sign` expands it
      // on every call (~45% of a sign: a hash, a base-point multiplication and an inversion). The
      // rest is `ed.sign`'s own steps on noble's arithmetic (`signExpanded`); Ed25519 is
      // deterministic, so the RFC 8032 vectors and the byte-for-byte comparison with OpenSSL
      // (test/crypto/rfc8032, cross-backend) check every signature it makes.
      const expanded = ed.utils.getExtendedPublicKey(secretKey.slice());
      const keyId = keyIdOf(backend, expanded.pointBytes);
      return {
        publicKey: expanded.pointBytes.slice(),
        keyId,
        sign: (message: Uint8Array): Uint8Array => signExpanded(expanded, message),
      };
    },

    verifier(publicKey: Uint8Array): Verifier {
      requireKeyLength(publicKey, PUBLIC_KEY_LENGTH, 'Ed25519 public key');
      // Private copy: callers may mutate the array they passed in or the one we expose.
      const key = publicKey.slice();
      const keyId = keyIdOf(backend, key);
      let pinnedKey: PinnedKey | undefined;
      let pinRequested = false;
      return {
        publicKey: key.slice(),
        keyId,
        verify(message: Uint8Array, signature: Uint8Array): boolean {
          if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false;
          if (!(message instanceof Uint8Array)) return false;
          if (pinRequested) return (pinnedKey ??= pinKey(key)).verify(message, signature);
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
        pin(): void {
          pinRequested = true; // the table is built on the next verify: a key pinned but never used costs nothing
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

/**
 * A pinned key's prepared form (docs/ARCHITECTURE.md §3, "Pinned keys"): the key decoded and checked
 * once, and a table of its multiples so that [k]A, three quarters of a verify, costs one point
 * addition per 8-bit window instead of ~250 doublings and ~125 additions. This is the table noble
 * keeps for the base point (`Gpows` in its index.js), built here for one more point. All arithmetic is
 * noble's (`Point.add`, `double`, `negate`, `fromBytes`, `multiply`); what is ours is the window
 * recoding in `multiply` and the order of the checks below, which test/crypto/pinned.test.ts holds
 * against `ed.verify` on valid, tampered and malformed input. Variable time, which is fine: a verify
 * handles public data only.
 */
interface PinnedKey {
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** Keys pinned in this process, by hex: `sw` pins the same hub key for its AWDT, boot gate and fetcher. */
const pinnedKeys = new Map<string, PinnedKey>();
/** A device pins one or two keys; tests pin many. Past this, the oldest table is dropped (rebuilt if used). */
const MAX_PINNED_KEYS = 4;

const NEVER: PinnedKey = { verify: () => false };

function pinKey(key: Uint8Array): PinnedKey {
  const id = ed.etc.bytesToHex(key);
  const known = pinnedKeys.get(id);
  if (known !== undefined) return known;
  const pinned = preparePinnedKey(key);
  if (pinnedKeys.size >= MAX_PINNED_KEYS) pinnedKeys.delete(pinnedKeys.keys().next().value!);
  pinnedKeys.set(id, pinned);
  return pinned;
}

function preparePinnedKey(key: Uint8Array): PinnedKey {
  let A: ed.Point;
  try {
    A = ed.Point.fromBytes(key, false);
  } catch {
    return NEVER; // not a canonical curve point: ed.verify refuses every signature for it
  }
  // Strict mode (zip215:false) refuses small-order keys whatever the signature: checked once here.
  if (A.isSmallOrder()) return NEVER;
  const table = new WindowTable(A);
  return {
    verify(message: Uint8Array, signature: Uint8Array): boolean {
      // The checks of ed.verify(signature, message, key, { zip215: false }): RFC 8032 §5.1.7 with
      // the cofactored equation [8][S]B = [8]R + [8][k]A, R and S canonical.
      try {
        const r = signature.subarray(0, 32);
        const s = numberLE(signature.subarray(32, 64));
        const SB = ed.Point.BASE.multiply(s, false); // throws unless 0 <= s < L; noble's own G table
        const k = ed.etc.mod(numberLE(sha512.create().update(r).update(key).update(message).digest()), ORDER);
        const kA = table.multiply(k);
        // Fast accept: when r is the (canonical) encoding of [S]B − [k]A, R decodes to that point and
        // the equation holds exactly, so ed.verify accepts too. Encoding costs one inversion where
        // decoding R costs a square root; every honest signature ends here.
        if (bytesEqual(SB.subtract(kA).toBytes(), r)) return true;
        // Anything else gets ed.verify's own steps: R decoded strictly (a non-canonical or off-curve R
        // throws), then the cofactored equation, which an R with a small-order component can still meet.
        const R = ed.Point.fromBytes(r, false);
        return R.add(kA).subtract(SB).clearCofactor().is0();
      } catch {
        return false;
      }
    },
  };
}

const ORDER = ed.Point.CURVE().n;
const WINDOW_BITS = 8;
const WINDOW_SIZE = 1 << WINDOW_BITS;
const WINDOW_HALF = WINDOW_SIZE >> 1;
const WINDOW_MASK = BigInt(WINDOW_SIZE - 1);
const WINDOW_SHIFT = BigInt(WINDOW_BITS);
// Scalars are below the group order (< 2^253), plus one window for the carry of the signed digits.
const WINDOWS = Math.ceil(253 / WINDOW_BITS) + 1;

/** [i · 2^(8w)]A for i = 1..128 and each window w: 33 × 128 points, ~1 MB, built in ~4,200 additions. */
class WindowTable {
  private readonly points: ed.Point[] = [];

  constructor(A: ed.Point) {
    let base = A;
    for (let w = 0; w < WINDOWS; w++) {
      let multiple = base;
      this.points.push(multiple);
      for (let i = 1; i < WINDOW_HALF; i++) this.points.push((multiple = multiple.add(base)));
      base = multiple.double(); // 128 · base · 2 = the next window's base
    }
  }

  /** [k]A for 0 <= k < L, with signed 8-bit digits in -127..128 so the table holds half a window. */
  multiply(k: bigint): ed.Point {
    let acc = ed.Point.ZERO;
    let rest = k;
    for (let w = 0; w < WINDOWS; w++) {
      let digit = Number(rest & WINDOW_MASK);
      rest >>= WINDOW_SHIFT;
      if (digit > WINDOW_HALF) {
        digit -= WINDOW_SIZE;
        rest += 1n;
      }
      if (digit === 0) continue;
      const q = this.points[w * WINDOW_HALF + Math.abs(digit) - 1]!;
      acc = acc.add(digit < 0 ? q.negate() : q);
    }
    if (rest !== 0n) throw new RangeError('scalar out of range for the window table');
    return acc;
  }
}

/** A little-endian byte string as a number (RFC 8032's decoding of S and of the challenge hash). */
function numberLE(bytes: Uint8Array): bigint {
  return BigInt('0x' + ed.etc.bytesToHex(bytes.slice().reverse()));
}

/** For tests: a prepared key without the process-wide cache, and a key's window table on its own. */
export const pinnedKeyInternals = {
  prepare: (key: Uint8Array): PinnedKey => preparePinnedKey(key),
  windowTable(key: Uint8Array): (k: bigint) => Uint8Array {
    const table = new WindowTable(ed.Point.fromBytes(key, false));
    return (k) => table.multiply(k).toBytes();
  },
};

/**
 * RFC 8032 §5.1.6 with the key already expanded: `ed.sign` after its call to `getExtendedPublicKey`
 * (its `_sign`, which noble does not export), on noble's arithmetic. The base-point multiplication is
 * noble's constant-time-minded one (`multiply` in safe mode), as in `ed.sign`.
 */
function signExpanded(
  key: { readonly prefix: Uint8Array; readonly scalar: bigint; readonly pointBytes: Uint8Array },
  message: Uint8Array,
): Uint8Array {
  if (!(message instanceof Uint8Array)) throw new TypeError('message: expected Uint8Array');
  const m = message.slice(); // one owned copy: both hashes below must see the same bytes, as in ed.sign
  const r = ed.etc.mod(numberLE(sha512.create().update(key.prefix).update(m).digest()), ORDER);
  const R = ed.Point.BASE.multiply(r).toBytes(); // safe mode refuses r = 0, as ed.sign does
  const k = ed.etc.mod(numberLE(sha512.create().update(R).update(key.pointBytes).update(m).digest()), ORDER);
  const S = ed.etc.mod(r + k * key.scalar, ORDER);
  const signature = new Uint8Array(SIGNATURE_LENGTH);
  signature.set(R, 0);
  signature.set(ed.etc.hexToBytes(S.toString(16).padStart(64, '0')).reverse(), 32);
  return signature;
}
