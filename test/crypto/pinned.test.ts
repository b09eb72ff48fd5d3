// A pinned noble verifier (window table of the key, docs/ARCHITECTURE.md §3 "Pinned keys") must give
// exactly ed.verify's answers: on valid signatures, and above all on the invalid ones, which no vector
// of valid signatures can catch.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { cryptoBackend, fromHex, generateSecretKey, hex, type Verifier } from '../../actors/crypto/index.ts';
import { pinnedKeyInternals } from '../../actors/crypto/noble.ts';
import { RFC8032_VECTORS } from './rfc8032-vectors.ts';

const noble = cryptoBackend('noble');
const node = cryptoBackend('node');
const L = ed.Point.CURVE().n;
const P = ed.Point.CURVE().p;

/** The reference: noble's own verify, strict RFC 8032 as the backend calls it. */
const reference = (key: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
  try {
    return ed.verify(signature, message, key, { zip215: false });
  } catch {
    return false;
  }
};

function pinnedVerifier(key: Uint8Array): Verifier {
  const v = noble.verifier(key);
  v.pin();
  return v;
}

/** Both the backend's pinned verifier and the uncached prepared key agree with the reference. */
function assertAgrees(key: Uint8Array, message: Uint8Array, signature: Uint8Array, expected?: boolean): void {
  const want = reference(key, message, signature);
  if (expected !== undefined) assert.equal(want, expected, 'reference verdict');
  assert.equal(pinnedVerifier(key).verify(message, signature), want, 'pinned verifier');
  assert.equal(pinnedKeyInternals.prepare(key).verify(message, signature), want, 'prepared key');
  assert.equal(noble.verifier(key).verify(message, signature), want, 'unpinned verifier');
}

const le32 = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
};
const numberLE = (b: Uint8Array): bigint => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
const withS = (signature: Uint8Array, s: bigint): Uint8Array => Uint8Array.from([...signature.subarray(0, 32), ...le32(s)]);
const withR = (signature: Uint8Array, r: Uint8Array): Uint8Array => Uint8Array.from([...r, ...signature.subarray(32)]);

// Points of small order (identity, order 2, 4 and 8), as encoded in the Ed25519 edge-case literature.
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
].map(fromHex);

describe('pinned noble verifier', () => {
  it('verifies the RFC 8032 vectors and refuses each with one bit flipped', () => {
    for (const v of RFC8032_VECTORS) {
      const key = fromHex(v.publicKey);
      const message = fromHex(v.message);
      const signature = fromHex(v.signature);
      assertAgrees(key, message, signature, true);
      const flipped = signature.slice();
      flipped[40] ^= 0x10;
      assertAgrees(key, message, flipped, false);
      if (message.length > 0) {
        const other = message.slice();
        other[0] ^= 1;
        assertAgrees(key, other, signature, false);
      }
    }
  });

  it('agrees with ed.verify on random keys, messages and single-bit tampering', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.option(fc.nat({ max: 64 * 8 - 1 })),
        (seed, message, bit) => {
          const signer = node.signer(seed);
          const signature = signer.sign(message);
          if (bit !== null) signature[bit >> 3] ^= 1 << (bit & 7);
          assertAgrees(signer.publicKey, message, signature, bit === null ? true : undefined);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('one pinned key answers many signatures, valid and not, like ed.verify', () => {
    const signer = node.signer(generateSecretKey());
    const verifier = pinnedVerifier(signer.publicKey);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (message, junk) => {
        assert.equal(verifier.verify(message, signer.sign(message)), true);
        assert.equal(verifier.verify(message, junk), reference(signer.publicKey, message, junk));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses S >= L (malleability) and accepts only the canonical S', () => {
    const signer = node.signer(generateSecretKey());
    const message = Uint8Array.of(1, 2, 3);
    const signature = signer.sign(message);
    const s = numberLE(signature.subarray(32));
    assertAgrees(signer.publicKey, message, withS(signature, s), true);
    assertAgrees(signer.publicKey, message, withS(signature, s + L), false);
    assertAgrees(signer.publicKey, message, withS(signature, L), false);
    assertAgrees(signer.publicKey, message, withS(signature, 2n ** 256n - 1n), false);
    assertAgrees(signer.publicKey, message, withS(signature, 0n), false);
  });

  it('refuses non-canonical, off-curve and small-order R', () => {
    const signer = node.signer(generateSecretKey());
    const message = Uint8Array.of(9);
    const signature = signer.sign(message);
    // y = p + 1 encodes the identity's y = 1 non-canonically: strict decoding refuses it.
    assertAgrees(signer.publicKey, message, withR(signature, le32(P + 1n)), false);
    assertAgrees(signer.publicKey, message, withR(signature, new Uint8Array(32).fill(0xff)), false);
    for (const small of SMALL_ORDER) assertAgrees(signer.publicKey, message, withR(signature, small), false);
    assertAgrees(signer.publicKey, message, new Uint8Array(64), false);
  });

  it('refuses a non-canonical R even when the equation holds for it (ZIP-215 would accept)', () => {
    const { scalar: a, pointBytes: A } = ed.utils.getExtendedPublicKey(generateSecretKey());
    const message = Uint8Array.of(3);
    for (const R of [le32(P + 1n), Uint8Array.from([1, ...new Uint8Array(30), 0x80])]) {
      // R decodes (loosely) to the identity, so S = k·a satisfies [S]B = R + [k]A.
      const k = numberLE(sha512(Uint8Array.from([...R, ...A, ...message]))) % L;
      const signature = Uint8Array.from([...R, ...le32((k * a) % L)]);
      assert.equal(ed.verify(signature, message, A, { zip215: true }), true, 'the loose rules accept it');
      assertAgrees(A, message, signature, false);
    }
  });

  it('never verifies for small-order, off-curve or non-canonical keys', () => {
    const message = Uint8Array.of(1);
    for (const key of [...SMALL_ORDER, new Uint8Array(32).fill(0xff), le32(P), le32(P + 1n)]) {
      // A signature a small-order key would accept under the bare equation: R = identity, S = 0.
      const trivial = Uint8Array.from([...SMALL_ORDER[0]!, ...new Uint8Array(32)]);
      assertAgrees(key, message, trivial, false);
      assertAgrees(key, message, new Uint8Array(64), false);
    }
    // x = 0 with the sign bit set: the identity encoded with a set sign bit, refused by strict decoding.
    const signedZero = SMALL_ORDER[0]!.slice();
    signedZero[31] |= 0x80;
    assertAgrees(signedZero, message, new Uint8Array(64), false);
  });

  it('accepts, as ed.verify does, a signature whose R carries a small-order component (cofactored check)', () => {
    const seed = generateSecretKey();
    const { scalar: a, pointBytes: A } = ed.utils.getExtendedPublicKey(seed);
    const message = Uint8Array.of(4, 2);
    const T = ed.Point.fromBytes(SMALL_ORDER[3]!); // order 8
    const r = 12345678901234567890n;
    const R = ed.Point.BASE.multiply(r).add(T).toBytes();
    const k = numberLE(sha512(Uint8Array.from([...R, ...A, ...message]))) % L;
    const S = (r + k * a) % L;
    const signature = Uint8Array.from([...R, ...le32(S)]);
    assertAgrees(A, message, signature, true);
    // OpenSSL checks the cofactorless equation and refuses it: the backends differ here, as before.
    assert.equal(node.verifier(A).verify(message, signature), false);
  });

  it('never throws on inputs that are not bytes or have the wrong length', () => {
    const signer = noble.signer(generateSecretKey());
    const verifier = pinnedVerifier(signer.publicKey);
    const message = Uint8Array.of(7);
    const signature = signer.sign(message);
    assert.equal(verifier.verify(message, signature), true);
    for (const bad of [signature.subarray(0, 63), new Uint8Array(65), new Uint8Array(0)])
      assert.equal(verifier.verify(message, bad), false);
    assert.equal(verifier.verify('7' as unknown as Uint8Array, signature), false);
    assert.equal(verifier.verify(message, [...signature] as unknown as Uint8Array), false);
  });

  it('pinning changes no answer on either backend, before or after the first verify', () => {
    for (const backend of [noble, node]) {
      const signer = backend.signer(generateSecretKey());
      const message = Uint8Array.of(5);
      const signature = signer.sign(message);
      const verifier = backend.verifier(signer.publicKey);
      assert.equal(verifier.verify(message, signature), true);
      verifier.pin();
      verifier.pin();
      assert.equal(verifier.verify(message, signature), true);
      assert.equal(verifier.verify(Uint8Array.of(6), signature), false);
    }
  });

  it('the window table multiplies like Point.multiply, carries and window edges included', () => {
    const key = node.signer(generateSecretKey()).publicKey;
    const A = ed.Point.fromBytes(key);
    const multiply = pinnedKeyInternals.windowTable(key);
    const runs = (byte: number) => numberLE(new Uint8Array(32).fill(byte)) % L;
    const scalars = [
      0n,
      1n,
      2n,
      127n,
      128n,
      129n,
      255n,
      256n,
      257n,
      0x8080n,
      0x7f80n,
      L - 1n,
      L - 2n,
      L - 128n,
      2n ** 252n,
      2n ** 252n - 1n,
    ];
    scalars.push(runs(0x80), runs(0x81), runs(0xff), runs(0x7f), runs(0x01));
    for (const k of scalars) {
      const want = k === 0n ? ed.Point.ZERO.toBytes() : A.multiply(k, false).toBytes();
      assert.equal(hex(multiply(k)), hex(want), `k = ${k.toString(16)}`);
    }
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: L - 1n }), (k) => {
        const want = k === 0n ? ed.Point.ZERO.toBytes() : A.multiply(k, false).toBytes();
        assert.equal(hex(multiply(k)), hex(want));
      }),
      { numRuns: 100 },
    );
  });
});
