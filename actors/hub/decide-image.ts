/**
 * A hub's decision on one image request (image transfer, docs/ARCHITECTURE.md §5), as a pure
 * function in the manner of decide.ts: request bytes, the time, a read-only view of the store and of
 * the in-memory image gate in; the decision, its (rare) durable writes and the gate's change out.
 *
 * Order of checks:
 * 1. Open the envelope (context `image-request`, an enrolled key, the signature), then decode.
 * 2. Bind: the request names exactly its signer's device and instance; the nonce is 32 bytes.
 *    Failures so far get NO reply, and are audited, exactly as for ticket requests.
 * 3. Repeats: a nonce answered IMAGE_ANSWERS_PER_NONCE times already gets no reply (`replayed`).
 * 4. Rate: a device without a token left gets RATE_LIMITED (image-gate.ts); every other answer
 *    spends one, refusals included, so no kind of request is free to repeat.
 * 5. Validate → MALFORMED naming the field (when the refusal can echo the request validly).
 * 6. Dominance: the instance and the label must be this hub's (role.ts, releases.ts) → WRONG_HUB.
 * 7. Device state: unknown → UNKNOWN_DEVICE, revoked → REVOKED. A quarantined device IS served: it
 *    must be able to repair itself, and it gets no ticket meanwhile anyway.
 * 8. The release must be published here → NOT_PUBLISHED; the offset within the image → MALFORMED.
 * 9. Served: bytes [offset, offset + min(max_bytes, 32 KiB)), the image's size, and at offset 0 the
 *    release's manifest and its signature.
 *
 * Writes: none per chunk. The chunk that completes an image (it reaches the image's end) is audited
 * once (`image` / `fetched`), and not again for the same device, instance and release within
 * IMAGE_MEMORY_MS: an operator sees who fetched which release, and a device asking for its last chunk
 * in a loop cannot fill the audit log. Answered refusals are counted, not audited: their causes are
 * the hub's own state (already audited when an operator made it so) or the device's pace.
 */
import { CONTEXTS } from '../crypto/index.ts';
import { seal } from '../tickets/index.ts';
import {
  create,
  DETAIL_MAX,
  IMAGE_CHUNK_MAX,
  ImageChunkSchema,
  ImageRequestSchema,
  isInstance,
  lanes,
  MAX_WIRE_BYTES,
  topics,
  validateImageChunk,
  validateImageRequest,
  WithheldSchema,
  WithholdReason,
  type ImageChunk,
  type ImageRequest,
  type Instance,
  imageChunkLiteCodec,
} from '../../proto/index.ts';
import { authenticate, bindToSigner } from './authenticate.ts';
import { auditEntry, expirySeconds, type ImageDecision } from './decision.ts';
import type { HubIdentityKey } from './decide.ts';
import type { Decided, HubEffects, HubView } from './effects.ts';
import type { ImageGateEffect, ImageGateView } from './image-gate.ts';
import type { ImageReason, RefusalReason } from './reasons.ts';
import { releaseLabels, type PublishedRelease } from './releases.ts';
import { requestRef } from './replay.ts';
import { dominates } from './role.ts';
import { exactNumber } from './runtime-record.ts';

/** How long a chunk stays deliverable (MQTT 5 expiry): a device waits far less before it asks again. */
const CHUNK_VALID_MS = 30_000;

type Refusal = Exclude<ImageReason, 'served' | RefusalReason>;

const WITHHOLD: Readonly<Record<Refusal, WithholdReason>> = {
  'not-published': WithholdReason.NOT_PUBLISHED,
  'rate-limited': WithholdReason.RATE_LIMITED,
  'malformed-request': WithholdReason.MALFORMED,
  'wrong-hub': WithholdReason.WRONG_HUB,
  'unknown-device': WithholdReason.UNKNOWN_DEVICE,
  revoked: WithholdReason.REVOKED,
};

/** Decides on one image request. Never throws: a failing view or a bug is a `refused` decision. */
export function decideImage(
  bytes: Uint8Array,
  nowMs: number,
  hub: HubIdentityKey,
  view: HubView,
  gate: ImageGateView,
  topicDevice?: string,
): Decided {
  try {
    return decideChecked(bytes, nowMs, hub, view, gate, topicDevice);
  } catch (err) {
    return refuse(nowMs, 'internal-error', err instanceof Error ? err.name : 'error');
  }
}

function decideChecked(
  bytes: Uint8Array,
  nowMs: number,
  hub: HubIdentityKey,
  view: HubView,
  gate: ImageGateView,
  topicDevice?: string,
): Decided {
  const auth = authenticate(bytes, CONTEXTS.imageRequest, ImageRequestSchema, MAX_WIRE_BYTES.imageRequest, view, topicDevice);
  if (!auth.ok) return refuse(nowMs, auth.reason, auth.detail);
  const { signer, message: request } = auth;
  const bound = bindToSigner(request, signer);
  if (!bound.ok) return refuse(nowMs, bound.reason, bound.detail, bound.attributable ? request : undefined);
  // From here the request names its signer's own (valid) device id and instance.
  const instance: Instance = bound.instance;
  if (gate.answers(request.deviceId, instance, request.nonce) >= gate.answersPerNonce) {
    return refuse(nowMs, 'replayed', `this nonce was answered ${gate.answersPerNonce} times already`, request);
  }
  const use = (spend: boolean, fetched?: ImageGateEffect['fetched']): ImageGateEffect => ({
    deviceId: request.deviceId,
    instance,
    nonce: request.nonce.slice(),
    atMs: nowMs,
    spend,
    ...(fetched !== undefined ? { fetched } : {}),
  });
  if (!gate.allows(request.deviceId, nowMs)) {
    return refused(hub, request, nowMs, 'rate-limited', 'too many image requests; ask again in a second', use(false));
  }

  const problem = validateImageRequest(request)[0];
  if (problem !== undefined) return refused(hub, request, nowMs, 'malformed-request', `${problem.field}: ${problem.problem}`, use(true));
  if (!dominates(hub.role, instance) || !releaseLabels(hub.role).includes(request.label)) {
    return refused(hub, request, nowMs, 'wrong-hub', `this hub does not serve images of ${request.label}`, use(true));
  }
  const state = view.deviceState(request.deviceId);
  if (state === undefined) return refused(hub, request, nowMs, 'unknown-device', 'device is not enrolled', use(true));
  if (state === 'revoked') return refused(hub, request, nowMs, 'revoked', 'device is revoked', use(true));

  const version = exactNumber(request.version);
  const release = version === undefined ? undefined : view.release(request.board, request.label, version);
  if (release === undefined) {
    return refused(
      hub,
      request,
      nowMs,
      'not-published',
      `no release ${request.version} of ${request.label} for board ${request.board} is published here`,
      use(true),
    );
  }
  const total = release.bundle.length;
  if (request.offset > BigInt(total)) {
    return refused(hub, request, nowMs, 'malformed-request', `offset: past the end of the image (${total} bytes)`, use(true));
  }
  return served(hub, request, instance, release, nowMs, gate, use);
}

function served(
  hub: HubIdentityKey,
  request: ImageRequest,
  instance: Instance,
  release: PublishedRelease,
  nowMs: number,
  gate: ImageGateView,
  use: (spend: boolean, fetched?: ImageGateEffect['fetched']) => ImageGateEffect,
): Decided {
  const offset = Number(request.offset); // ≤ the bundle's length (checked)
  const end = Math.min(release.bundle.length, offset + Math.min(request.maxBytes, IMAGE_CHUNK_MAX));
  const first = offset === 0;
  const chunk = create(ImageChunkSchema, {
    ...echo(request),
    totalBytes: BigInt(release.bundle.length),
    data: release.bundle.subarray(offset, end),
    ...(first ? { manifest: release.manifest, manifestSignature: release.signature } : {}),
  });
  const sealed = sealChunk(hub, chunk, nowMs, request);
  if (!sealed.ok) return sealed.refused;
  const decision: ImageDecision = {
    exchange: 'image',
    outcome: 'chunk',
    reason: 'served',
    deviceId: request.deviceId,
    instance,
    bytes: end - offset,
    reply: sealed.reply,
  };
  // The chunk that reaches the image's end completes a fetch: one audit row, not again for a while.
  const completes = end === release.bundle.length && !gate.audited(request.deviceId, instance, release.label, release.version, nowMs);
  const effects: HubEffects = completes
    ? {
        audit: auditEntry(
          nowMs,
          { outcome: 'image', reason: 'fetched', deviceId: request.deviceId, instance },
          {
            ref: requestRef(request.nonce),
            detail: `${release.label} release ${release.version} (board ${release.board}), ${release.bundle.length} bytes`,
          },
        ),
      }
    : {};
  return {
    decision,
    effects,
    gate: use(true, completes ? { label: release.label, version: release.version } : undefined),
  };
}

/** A signed refusal (ImageChunk.refused), counted but not audited. */
function refused(
  hub: HubIdentityKey,
  request: ImageRequest,
  nowMs: number,
  reason: Refusal,
  detail: string,
  gate: ImageGateEffect,
): Decided {
  const chunk = create(ImageChunkSchema, {
    ...echo(request),
    refused: create(WithheldSchema, { reason: WITHHOLD[reason], detail: detail.slice(0, DETAIL_MAX) }),
  });
  const sealed = sealChunk(hub, chunk, nowMs, request);
  if (!sealed.ok) return { ...sealed.refused, gate };
  const decision: ImageDecision = {
    exchange: 'image',
    outcome: 'chunk-refused',
    reason,
    deviceId: request.deviceId,
    instance: request.instance,
    reply: sealed.reply,
  };
  return { decision, effects: {}, gate };
}

function echo(request: ImageRequest): Pick<ImageChunk, 'deviceId' | 'instance' | 'nonce' | 'label' | 'version' | 'offset'> {
  const { deviceId, instance, nonce, label, version, offset } = request;
  return { deviceId, instance, nonce, label, version, offset };
}

/** Validates and signs a chunk; a chunk that would not validate is not sent (`reply-invalid`). */
function sealChunk(
  hub: HubIdentityKey,
  chunk: ImageChunk,
  nowMs: number,
  request: ImageRequest,
): { ok: true; reply: NonNullable<ImageDecision['reply']> } | { ok: false; refused: Decided } {
  const problems = validateImageChunk(chunk);
  if (problems.length > 0) {
    return { ok: false, refused: refuse(nowMs, 'reply-invalid', problems.map((p) => `${p.field}: ${p.problem}`).join('; '), request) };
  }
  const payload = seal(hub.signer, CONTEXTS.imageChunk, imageChunkLiteCodec.encode(chunk));
  return {
    ok: true,
    reply: { topic: topics.reply(chunk.deviceId, lanes.image(chunk.instance)), payload, expirySeconds: expirySeconds(CHUNK_VALID_MS) },
  };
}

/** No reply; audited like a ticket request refused at the same step. */
function refuse(nowMs: number, reason: RefusalReason, detail: string, request?: ImageRequest): Decided {
  const decision: ImageDecision = {
    exchange: 'image',
    outcome: 'refused',
    reason,
    ...(request !== undefined
      ? { deviceId: request.deviceId, ...(isInstance(request.instance) ? { instance: request.instance } : {}) }
      : {}),
  };
  const ref = request !== undefined && request.nonce.length > 0 ? requestRef(request.nonce) : undefined;
  return { decision, effects: { audit: auditEntry(nowMs, { ...decision, outcome: 'refused', reason }, { detail, ref }) } };
}
