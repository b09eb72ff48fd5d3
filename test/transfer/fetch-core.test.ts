/**
 * The image fetch core against a hand-played hub: an image reassembles from signed chunks; nothing is
 * kept from a chunk that is forged, stale or out of place; an image over the cap, or a manifest other
 * than the one UPDATE_REQUIRED named, ends the transfer before its bytes are buffered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTEXTS, nodeBackend } from '../../actors/crypto/index.ts';
import { seal, open, pinned } from '../../actors/tickets/index.ts';
import { ImageFetchCore, type FetchTarget } from '../../actors/transfer/index.ts';
import {
  create,
  ImageChunkSchema,
  imageRequestCodec,
  toBinary,
  WithholdReason,
  type ImageRequest,
  type MessageInitShape,
} from '../../proto/index.ts';

const crypto = nodeBackend();
const hubKey = crypto.signer(new Uint8Array(32).fill(7));
const otherKey = crypto.signer(new Uint8Array(32).fill(8));
const deviceKey = crypto.signer(new Uint8Array(32).fill(9));
const BUNDLE = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251);
const MANIFEST = new TextEncoder().encode('{"format":"dominion-manifest/2"}\n');
const SIGNATURE = new TextEncoder().encode('{"sig":1}\n');
const TARGET: FetchTarget = { label: 'sm:sensor', version: 3, board: 'sim', maxBytes: 1 << 20 };

function core(): ImageFetchCore {
  let n = 0;
  return new ImageFetchCore({
    deviceId: 'dev-1',
    instance: 'sm:sensor',
    signer: deviceKey,
    hub: crypto.verifier(hubKey.publicKey),
    sha512: (d) => crypto.sha512(d),
    chunkBytes: 32 * 1024,
    nonce: () => new Uint8Array(32).fill(++n),
  });
}

/** The hub's side: reads the device's request, answers with a signed chunk (or what a test makes of it). */
function serve(
  request: Uint8Array,
  tweak: (c: MessageInitShape<typeof ImageChunkSchema>, req: ImageRequest) => void = () => {},
  signer = hubKey,
): Uint8Array {
  const opened = open(request, CONTEXTS.imageRequest, pinned(crypto.verifier(deviceKey.publicKey)));
  assert.ok(opened.ok, 'the request is signed by the device');
  const req = imageRequestCodec.decode(opened.payload);
  const from = Number(req.offset);
  const chunk: MessageInitShape<typeof ImageChunkSchema> = {
    deviceId: req.deviceId,
    instance: req.instance,
    nonce: req.nonce,
    label: req.label,
    version: req.version,
    offset: req.offset,
    totalBytes: BigInt(BUNDLE.length),
    data: BUNDLE.slice(from, from + req.maxBytes),
    ...(from === 0 ? { manifest: MANIFEST, manifestSignature: SIGNATURE } : {}),
  };
  tweak(chunk, req);
  return seal(signer, CONTEXTS.imageChunk, toBinary(ImageChunkSchema, create(ImageChunkSchema, chunk)));
}

test('an image reassembles from signed chunks, with the manifest from offset 0', () => {
  const c = core();
  let next = c.start(TARGET);
  let chunks = 0;
  for (;;) {
    const step = c.reply(serve(next));
    chunks++;
    if (step.kind === 'done') {
      assert.deepEqual(step.image.bundle, BUNDLE);
      assert.deepEqual(step.image.manifest, MANIFEST);
      assert.deepEqual(step.image.signature, SIGNATURE);
      break;
    }
    assert.equal(step.kind, 'request');
    if (step.kind === 'request') next = step.envelope;
  }
  assert.equal(chunks, 3, '70,000 bytes in 32 KiB chunks');
  assert.equal(c.busy, undefined);
});

test('a forged, stale or misplaced chunk is dropped and the transfer goes on', () => {
  const c = core();
  const first = c.start(TARGET);
  assert.equal(c.reply(serve(first, () => {}, otherKey)).kind, 'ignored', 'not signed by the pinned hub');
  const stale = c.reply(serve(first, (ch) => (ch.nonce = new Uint8Array(32).fill(99))));
  assert.deepEqual([stale.kind, stale.kind === 'ignored' && stale.code], ['ignored', 'wrong-nonce']);
  const misplaced = c.reply(
    serve(first, (ch) => {
      ch.offset = 32_768n;
      ch.manifest = new Uint8Array();
      ch.manifestSignature = new Uint8Array();
    }),
  );
  assert.deepEqual([misplaced.kind, misplaced.kind === 'ignored' && misplaced.code], ['ignored', 'wrong-chunk']);
  assert.equal(c.reply(serve(first, (ch) => (ch.version = 2n))).kind, 'ignored', 'another release');
  assert.equal(c.reply(new Uint8Array([1, 2, 3])).kind, 'ignored', 'junk');
  // The genuine chunk still counts: nothing above spent the request.
  assert.equal(c.reply(serve(first)).kind, 'request');
  assert.deepEqual(c.retry(), c.retry(), 'a retry resends the same request');
});

test('an image over the cap ends the transfer before anything is buffered', () => {
  const c = core();
  const step = c.reply(serve(c.start({ ...TARGET, maxBytes: 65_536 })));
  assert.equal(step.kind, 'failed');
  assert.match(step.kind === 'failed' ? step.detail : '', /70000 bytes, more than the 65536 accepted/);
  assert.equal(c.busy, undefined);
});

test('a release other than the one UPDATE_REQUIRED named is refused at offset 0', () => {
  const c = core();
  const step = c.reply(serve(c.start({ ...TARGET, manifestDigest: crypto.sha512(new Uint8Array([1])) })));
  assert.equal(step.kind, 'failed');
  const ok = core();
  assert.equal(ok.reply(serve(ok.start({ ...TARGET, manifestDigest: crypto.sha512(MANIFEST) }))).kind, 'request');
});

test("the hub's refusal ends the transfer with its reason", () => {
  const c = core();
  const step = c.reply(
    serve(c.start(TARGET), (ch) => {
      ch.refused = { reason: WithholdReason.NOT_PUBLISHED, detail: 'no sm:sensor@3 for sim' };
      ch.totalBytes = 0n;
      ch.data = new Uint8Array();
      ch.manifest = new Uint8Array();
      ch.manifestSignature = new Uint8Array();
    }),
  );
  assert.deepEqual(step, { kind: 'refused', reason: WithholdReason.NOT_PUBLISHED, detail: 'no sm:sensor@3 for sim' });
});

test('a chunk that changes the size mid-transfer fails it', () => {
  const c = core();
  const step = c.reply(serve(c.start(TARGET)));
  assert.equal(step.kind, 'request');
  const bad = c.reply(serve(step.kind === 'request' ? step.envelope : new Uint8Array(), (ch) => (ch.totalBytes = 80_000n)));
  assert.equal(bad.kind, 'failed');
});
