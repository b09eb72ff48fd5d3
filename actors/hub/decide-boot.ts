/**
 * The IH's decision on one boot request (gated boot, docs/ARCHITECTURE.md §5), as a pure function in
 * the manner of decide.ts: request bytes, the time and a read-only view in; the decision and its
 * writes (audit row, boot record) out. The server publishes the BootTicket after they commit.
 *
 * Order of checks:
 * 1. Open the envelope (context `boot-request`, an enrolled key, the signature), then decode.
 * 2. Bind: the request names its signer's device, and the signer is that device's K_I (`device`
 *    instance): a K_MM or K_SM key never asks for a boot. The boot nonce is 32 bytes.
 *    Failures so far get NO reply (the reply topic is the request's choice), as for tickets.
 * 3. Validate: an authenticated request that fails is answered WITHHELD MALFORMED, naming the field
 *    — when the answer itself can be valid (it echoes `manifest_digest`, which must then be 1–64
 *    bytes); otherwise no reply (`reply-invalid`).
 * 4. Dominance: only the IH dominates `device` (an SH answers WRONG_HUB, which the device cannot even
 *    verify: it pins the IH's key for boot tickets).
 * 5. Device state: unknown, revoked, quarantined → withheld with that reason.
 * 6. The operator's switches (boot-policy.ts): a withhold on the device → OPERATOR; an image below a
 *    release the operator requires → POLICY_FAILED (`image-too-old`).
 * 7. Granted: `initial_timeout_ms` from boot-policy.ts; `images_digest` = SHA-512 of the request's
 *    images (proto/boot-images.ts), so the grant holds for exactly the images the device reported.
 *
 * A repeated boot nonce is answered again, unlike a ticket nonce: `sw` draws one nonce per boot and
 * asks again with it while it waits in recovery mode (after a withheld boot, or a lost reply), and a
 * ticket for an old nonce is of no use to anyone — the device holds only its current boot's nonce.
 */
import { CONTEXTS, nodeBackend } from '../crypto/index.ts';
import { seal } from '../tickets/index.ts';
import {
  bootImagesBytes,
  BootRequestSchema,
  BootTicketSchema,
  create,
  DETAIL_MAX,
  lanes,
  MAX_WIRE_BYTES,
  NONCE_BYTES,
  topics,
  validateBootRequest,
  validateBootTicket,
  WithheldSchema,
  WithholdReason,
  type BootRequest,
  bootTicketLiteCodec,
} from '../../proto/index.ts';
import { authenticate } from './authenticate.ts';
import type { BootControls } from './boot-policy.ts';
import { auditEntry, expirySeconds, type BootDecision } from './decision.ts';
import type { HubIdentityKey } from './decide.ts';
import type { Decided, HubView } from './effects.ts';
import type { BootReason, RefusalReason } from './reasons.ts';
import { requestRef } from './replay.ts';
import { dominates } from './role.ts';
import { bootImageRecord, exactNumber } from './runtime-record.ts';

/** How long a boot ticket stays deliverable (MQTT 5 expiry): sw asks again after that. */
const BOOT_REPLY_VALID_MS = 60_000;

type Verdict =
  | { readonly kind: 'granted'; readonly initialTimeoutMs: number }
  | {
      readonly kind: 'withheld';
      readonly code: Exclude<BootReason, 'granted' | RefusalReason>;
      readonly reason: WithholdReason;
      readonly detail: string;
    };

/** Decides on one boot request. Never throws: a failing view or a bug is a `refused` decision. */
export function decideBoot(bytes: Uint8Array, nowMs: number, hub: HubIdentityKey, view: HubView, topicDevice?: string): Decided {
  try {
    return decideChecked(bytes, nowMs, hub, view, topicDevice);
  } catch (err) {
    return refuse(nowMs, 'internal-error', err instanceof Error ? err.name : 'error');
  }
}

function decideChecked(bytes: Uint8Array, nowMs: number, hub: HubIdentityKey, view: HubView, topicDevice?: string): Decided {
  const auth = authenticate(bytes, CONTEXTS.bootRequest, BootRequestSchema, MAX_WIRE_BYTES.bootRequest, view, topicDevice);
  if (!auth.ok) return refuse(nowMs, auth.reason, auth.detail);
  const { signer, message: request } = auth;
  if (request.deviceId !== signer.deviceId) {
    return refuse(nowMs, 'key-device-mismatch', `key enrolled for another device, request names ${request.deviceId.slice(0, 64)}`);
  }
  if (signer.instance !== 'device') {
    return refuse(nowMs, 'key-instance-mismatch', `a boot request must be signed with K_I, not the key of ${signer.instance}`, request);
  }
  if (request.bootNonce.length !== NONCE_BYTES) {
    return refuse(nowMs, 'malformed-payload', `boot_nonce: must be exactly ${NONCE_BYTES} bytes, got ${request.bootNonce.length}`, request);
  }

  const problem = validateBootRequest(request)[0];
  if (problem !== undefined) {
    return answer(
      hub,
      request,
      nowMs,
      withheld('malformed-request', WithholdReason.MALFORMED, `${problem.field}: ${problem.problem}`),
      false,
    );
  }
  if (!dominates(hub.role, 'device')) {
    return answer(hub, request, nowMs, withheld('wrong-hub', WithholdReason.WRONG_HUB, 'only the infrastructure hub grants boots'), false);
  }
  const state = view.deviceState(request.deviceId);
  if (state === undefined)
    return answer(hub, request, nowMs, withheld('unknown-device', WithholdReason.UNKNOWN_DEVICE, 'device is not enrolled'), true);
  if (state === 'revoked') return answer(hub, request, nowMs, withheld('revoked', WithholdReason.REVOKED, 'device is revoked'), true);
  if (state === 'quarantined')
    return answer(hub, request, nowMs, withheld('quarantined', WithholdReason.QUARANTINED, 'device is quarantined'), true);
  return answer(hub, request, nowMs, judge(request, view.bootControls(request.deviceId)), true);
}

/** The operator's switches against what the device is about to boot. */
function judge(request: BootRequest, controls: BootControls): Verdict {
  if (controls.withheld !== undefined) return withheld('operator-withheld', WithholdReason.OPERATOR, controls.withheld);
  for (const [label, minimum] of controls.required) {
    const image = request.images.find((i) => i.label === label);
    if (image === undefined)
      return withheld('image-too-old', WithholdReason.POLICY_FAILED, `no ${label} image reported; release ${minimum} is required`);
    if (image.version < BigInt(minimum))
      return withheld(
        'image-too-old',
        WithholdReason.POLICY_FAILED,
        `${label} runs release ${image.version}; release ${minimum} is required`,
      );
  }
  return { kind: 'granted', initialTimeoutMs: controls.initialTimeoutMs };
}

/** `record`: keep what the device reported (a valid request, to the hub that dominates it). */
function answer(hub: HubIdentityKey, request: BootRequest, nowMs: number, verdict: Verdict, record: boolean): Decided {
  const { deviceId, bootNonce, manifestDigest } = request;
  const imagesDigest = nodeBackend().sha512(bootImagesBytes(request.images));
  const ticket = create(BootTicketSchema, {
    deviceId,
    bootNonce,
    manifestDigest,
    imagesDigest,
    ...(verdict.kind === 'granted'
      ? { initialTimeoutMs: verdict.initialTimeoutMs }
      : { initialTimeoutMs: 0, withheld: create(WithheldSchema, { reason: verdict.reason, detail: verdict.detail.slice(0, DETAIL_MAX) }) }),
  });
  const problems = validateBootTicket(ticket);
  if (problems.length > 0) {
    return refuse(nowMs, 'reply-invalid', problems.map((p) => `${p.field}: ${p.problem}`).join('; '), request);
  }
  const payload = seal(hub.signer, CONTEXTS.bootTicket, bootTicketLiteCodec.encode(ticket));
  const decision: BootDecision = {
    exchange: 'boot',
    outcome: verdict.kind === 'granted' ? 'boot-granted' : 'boot-withheld',
    reason: verdict.kind === 'granted' ? 'granted' : verdict.code,
    deviceId,
    instance: 'device',
    reply: { topic: topics.reply(deviceId, lanes.boot), payload, expirySeconds: expirySeconds(BOOT_REPLY_VALID_MS) },
  };
  const detail =
    verdict.kind === 'granted'
      ? `boot ${request.bootCount}, firmware ${request.firmwareVersion}, ${request.images.length} images; initial timeout ${verdict.initialTimeoutMs} ms`
      : verdict.detail;
  const bootCount = exactNumber(request.bootCount);
  return {
    decision,
    effects: {
      audit: auditEntry(nowMs, decision, { ref: requestRef(bootNonce), detail }),
      // What the device reported, for `dominion devices`.
      ...(record
        ? {
            boot: {
              deviceId,
              atMs: nowMs,
              ...(bootCount !== undefined ? { bootCount } : {}),
              firmwareVersion: request.firmwareVersion,
              manifestDigest: manifestDigest.slice(),
              images: request.images.map(bootImageRecord),
              outcome: decision.outcome === 'boot-granted' ? 'boot-granted' : 'boot-withheld',
              reason: decision.reason,
            },
          }
        : {}),
    },
  };
}

function refuse(nowMs: number, reason: RefusalReason, detail: string, request?: BootRequest): Decided {
  const decision: BootDecision = {
    exchange: 'boot',
    outcome: 'refused',
    reason,
    ...(request !== undefined ? { deviceId: request.deviceId } : {}),
  };
  const ref = request !== undefined && request.bootNonce.length > 0 ? requestRef(request.bootNonce) : undefined;
  return { decision, effects: { audit: auditEntry(nowMs, decision, { detail, ref }) } };
}

function withheld(code: Exclude<BootReason, 'granted' | RefusalReason>, reason: WithholdReason, detail: string): Verdict {
  return { kind: 'withheld', code, reason, detail };
}
