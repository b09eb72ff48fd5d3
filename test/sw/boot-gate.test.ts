/**
 * Gated boot, `sw`'s side: a boot ticket counts only when the pinned IH signed it for this boot's
 * nonce and exactly the images this boot runs. A ticket from an earlier boot (a replay), for other
 * images, from another key, or for another device is refused — and refusing it spends nothing: the
 * genuine ticket still counts afterwards. A withheld boot keeps the device in recovery mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTEXTS, nodeBackend } from '../../actors/crypto/index.ts';
import { BootGateCore } from '../../actors/sw/index.ts';
import { open, pinned, seal } from '../../actors/tickets/index.ts';
import {
  BootTicketSchema,
  bootImagesBytes,
  bootRequestCodec,
  create,
  toBinary,
  WithholdReason,
  type BootImageLike,
  type BootRequest,
  type MessageInitShape,
} from '../../proto/index.ts';

const crypto = nodeBackend();
const ih = crypto.signer(new Uint8Array(32).fill(1));
const other = crypto.signer(new Uint8Array(32).fill(2));
const deviceKey = crypto.signer(new Uint8Array(32).fill(3));
const IMAGES: BootImageLike[] = [
  { label: 'sw', version: 2n, digest: crypto.sha512(new Uint8Array([1])) },
  { label: 'hypervisor', version: 2n, digest: crypto.sha512(new Uint8Array([2])) },
  { label: 'mm', version: 3n, digest: crypto.sha512(new Uint8Array([3])) },
];
const MANIFEST = crypto.sha512(new Uint8Array([9]));

function gate(bootNonce: number, images: () => readonly BootImageLike[] = () => IMAGES): BootGateCore {
  return new BootGateCore({
    deviceId: 'pi-1',
    signer: deviceKey,
    ih: crypto.verifier(ih.publicKey),
    sha512: (d) => crypto.sha512(d),
    images,
    manifestDigest: MANIFEST,
    firmwareVersion: '1.0.0',
    bootCount: bootNonce,
    nonce: () => new Uint8Array(32).fill(bootNonce),
  });
}

/** The IH's side: reads the request and answers it (or what a test makes of the answer). */
function answer(
  g: BootGateCore,
  tweak: (t: MessageInitShape<typeof BootTicketSchema>, req: BootRequest) => void = () => {},
  signer = ih,
): Uint8Array {
  const opened = open(g.request(), CONTEXTS.bootRequest, pinned(crypto.verifier(deviceKey.publicKey)));
  assert.ok(opened.ok, 'the request is signed with K_I');
  const req = bootRequestCodec.decode(opened.payload);
  const ticket: MessageInitShape<typeof BootTicketSchema> = {
    deviceId: req.deviceId,
    bootNonce: req.bootNonce,
    manifestDigest: req.manifestDigest,
    imagesDigest: crypto.sha512(bootImagesBytes(req.images)),
    initialTimeoutMs: 60_000,
  };
  tweak(ticket, req);
  return seal(signer, CONTEXTS.bootTicket, toBinary(BootTicketSchema, create(BootTicketSchema, ticket)));
}

test('the request names this boot: its nonce, K_I, and the images it will run', () => {
  const g = gate(7);
  const opened = open(g.request(), CONTEXTS.bootRequest, pinned(crypto.verifier(deviceKey.publicKey)));
  assert.ok(opened.ok);
  const req = bootRequestCodec.decode(opened.payload);
  assert.deepEqual(req.bootNonce, new Uint8Array(32).fill(7));
  assert.deepEqual(
    req.images.map((i) => [i.label, i.version]),
    [
      ['sw', 2n],
      ['hypervisor', 2n],
      ['mm', 3n],
    ],
  );
  assert.equal(req.bootCount, 7n);
});

test('a ticket from an earlier boot is refused; the genuine one still counts after it', () => {
  const earlier = gate(1);
  const replayed = answer(earlier); // captured during boot 1
  const now = gate(2);
  const v = now.reply(replayed);
  assert.deepEqual([v.kind, v.kind === 'refused' && v.error.code], ['refused', 'wrong-nonce']);
  assert.deepEqual(now.reply(answer(now)), { kind: 'granted', initialTimeoutMs: 60_000 });
});

test('a ticket for other images, another device or from another key is refused', () => {
  const g = gate(3);
  const otherImages = g.reply(answer(g, (t) => (t.imagesDigest = crypto.sha512(bootImagesBytes(IMAGES.slice(0, 2))))));
  assert.equal(otherImages.kind, 'refused');
  assert.equal(g.reply(answer(g, (t) => (t.deviceId = 'pi-2'))).kind, 'refused');
  const forged = g.reply(answer(g, () => {}, other));
  assert.deepEqual([forged.kind, forged.kind === 'refused' && forged.error.code], ['refused', 'unknown-signer']);
  assert.equal(g.reply(new Uint8Array([0, 1, 2])).kind, 'refused', 'junk');
  assert.equal(g.reply(answer(g)).kind, 'granted');
});

test('a withheld boot says why, and keeps asking with the same request', () => {
  const g = gate(4);
  const before = g.request();
  const v = g.reply(
    answer(g, (t) => {
      t.withheld = { reason: WithholdReason.QUARANTINED, detail: 'device is quarantined' };
      t.initialTimeoutMs = 0;
    }),
  );
  assert.deepEqual(v, { kind: 'withheld', reason: WithholdReason.QUARANTINED, detail: 'device is quarantined' });
  assert.equal(g.request(), before, 'the same signed request, nonce and images, until granted');
});

test('an image that changes in recovery mode is asked about again: only a ticket for the latest images counts', () => {
  let images: readonly BootImageLike[] = IMAGES;
  const g = gate(5, () => images);
  const first = answer(g); // for mm release 3
  const mm4 = { label: 'mm', version: 4n, digest: crypto.sha512(new Uint8Array([4])) };
  images = [...IMAGES.slice(0, 2), mm4]; // mm was updated to the release the IH requires
  const second = answer(g);
  assert.equal(g.reply(first).kind, 'refused', 'a ticket for the images of before');
  assert.equal(g.reply(second).kind, 'granted');
});
