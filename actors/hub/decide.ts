/**
 * The hub's decision for one ticket request (docs/ARCHITECTURE.md §2 step 6), as a pure function:
 * request bytes, the time and a read-only view in; the decision and the writes it implies
 * (`HubEffects`) out. No network, no clock, no store: the caller commits the effects (effects.ts).
 *
 * Order of checks, and why:
 * 1. Open the envelope (context, enrolled signer, signature) — before anything is decoded (§7) — and,
 *    when it came over MQTT, check the signer is the device whose request topic it arrived on.
 * 2. Decode the TicketRequest (protobuf only; validation comes later).
 * 3. The request must name exactly the (device, instance) its signer key is enrolled for (a K_SM or
 *    K_MM key never speaks for `device`), with a nonce of the protocol's length.
 *    Failures up to here get NO reply: the reply topic is chosen by the request, and answering
 *    unauthenticated input would let anyone aim our (signed) replies at any device. They are counted.
 * 4. The nonce must not have been answered before for this device and instance (replay): refused,
 *    no reply — answering it again would only re-sign an old nonce.
 * 5. The request must validate; it is authenticated and names its signer's own reply topic, so a
 *    failure is answered: WITHHELD MALFORMED, naming the first problem.
 * 6. The instance must be one this hub dominates, else WITHHELD WRONG_HUB. Reachable when the store
 *    holds keys this hub does not answer for (one database shared by hubs of several roles, or a
 *    mis-enrolment).
 * 7. Device state (unknown, revoked, quarantined), then policy.
 */
import { CONTEXTS, type Signer } from '../crypto/index.ts';
import { seal } from '../tickets/index.ts';
import {
  create,
  DETAIL_MAX,
  isInstance,
  MAX_WIRE_BYTES,
  TicketReplySchema,
  DeferralTicketSchema,
  WithheldSchema,
  UpdateRequiredSchema,
  TicketRequestSchema,
  topics,
  validateTicketReply,
  validateTicketRequest,
  WithholdReason,
  type Instance,
  type TicketReply,
  type TicketRequest,
  ticketReplyLiteCodec,
} from '../../proto/index.ts';
import { authenticate, bindToSigner } from './authenticate.ts';
import { auditEntry, epochMs, expirySeconds, type TicketDecision } from './decision.ts';
import type { Decided, HubView } from './effects.ts';
import type { PolicyVerdict } from './policy.ts';
import type { DecisionReason, RefusalReason, StateReason } from './reasons.ts';
import { requestRef } from './replay.ts';
import { dominates, type HubRole } from './role.ts';
import { instanceRuntimeOf } from './runtime-record.ts';

export { expirySeconds } from './decision.ts';
export type { HubDecision, HubReply } from './decision.ts';

/** Who decides: the hub's role (which instances it answers for) and its signing key (K_IH or K_SH_k). */
export interface HubIdentityKey {
  readonly role: HubRole;
  readonly signer: Signer;
}

/** A policy verdict, or one of the core's own checks (same shape, wider `code`). */
type Answer =
  | Extract<PolicyVerdict, { kind: 'ticket' | 'update-required' }>
  | {
      readonly kind: 'withheld';
      readonly code: PolicyVerdict['code'] | StateReason;
      readonly reason: WithholdReason;
      readonly detail: string;
      readonly validForMs: number;
    };

/** Message expiry of refusals that no policy sized (malformed, unknown device, revoked, …). */
const STATE_REPLY_VALID_MS = 60_000;

/** Decides on one request. Never throws: a failure of the view or a bug is a `refused` decision. */
export function decide(bytes: Uint8Array, nowMs: number, hub: HubIdentityKey, view: HubView, topicDevice?: string): Decided {
  try {
    return decideChecked(bytes, nowMs, hub, view, topicDevice);
  } catch (err) {
    // A bug or a failing store backend: answer nothing (the AWDT then expires, which is the safe
    // side) and keep serving.
    return refuse(nowMs, 'internal-error', err instanceof Error ? err.name : 'error');
  }
}

function decideChecked(bytes: Uint8Array, nowMs: number, hub: HubIdentityKey, view: HubView, topicDevice?: string): Decided {
  // Decoded without validation: an authenticated request that fails validation is answered below.
  const auth = authenticate(bytes, CONTEXTS.ticketRequest, TicketRequestSchema, MAX_WIRE_BYTES.ticketRequest, view, topicDevice);
  if (!auth.ok) return refuse(nowMs, auth.reason, auth.detail);
  const { signer, message: request } = auth;
  const bound = bindToSigner(request, signer);
  if (!bound.ok) return refuse(nowMs, bound.reason, bound.detail, bound.attributable ? request : undefined);
  // From here the request names its signer's own (valid) device id and instance.
  const instance: Instance = bound.instance;
  if (view.seen(request.deviceId, instance, request.nonce)) {
    return refuse(nowMs, 'replayed', 'this nonce was already answered for this device and instance', request);
  }
  const problem = validateTicketRequest(request)[0];
  if (problem !== undefined) {
    return answer(
      hub,
      request,
      instance,
      nowMs,
      withheld('malformed-request', WithholdReason.MALFORMED, `${problem.field}: ${problem.problem}`),
    );
  }
  if (!dominates(hub.role, instance)) {
    return answer(hub, request, instance, nowMs, withheld('wrong-hub', WithholdReason.WRONG_HUB, `this hub does not dominate ${instance}`));
  }

  const state = view.deviceState(request.deviceId);
  if (state === undefined)
    return answer(hub, request, instance, nowMs, withheld('unknown-device', WithholdReason.UNKNOWN_DEVICE, 'device is not enrolled'));
  if (state === 'revoked') return answer(hub, request, instance, nowMs, withheld('revoked', WithholdReason.REVOKED, 'device is revoked'));
  if (request.runtime === undefined) return refuse(nowMs, 'malformed-payload', 'runtime missing', request); // validated; keeps types honest
  if (state === 'quarantined') {
    // Quarantine holds the device in recovery mode (docs/ARCHITECTURE.md §5): a device that reports it
    // runs there, and its mm (what it reaches the IH and repairs itself with), keep their tickets; a
    // device running its services is withheld, resets, and comes back in recovery mode.
    const report = request.runtime.report;
    const inRecovery = instance === 'mm' || (report.case === 'device' && report.value.recovery);
    if (!inRecovery)
      return answer(hub, request, instance, nowMs, withheld('quarantined', WithholdReason.QUARANTINED, 'device is quarantined'));
    const verdict = view.evaluate(request.deviceId, instance, request.runtime);
    return answer(hub, request, instance, nowMs, verdict.kind === 'ticket' ? { ...verdict, code: 'held-in-recovery' } : verdict);
  }
  return answer(hub, request, instance, nowMs, view.evaluate(request.deviceId, instance, request.runtime));
}

function answer(hub: HubIdentityKey, request: TicketRequest, instance: Instance, nowMs: number, verdict: Answer): Decided {
  const { deviceId, nonce } = request;
  const validForMs = verdict.kind === 'ticket' ? verdict.deferralMs : verdict.validForMs;
  const replied: TicketReply['outcome'] =
    verdict.kind === 'ticket'
      ? {
          case: 'ticket',
          value: create(DeferralTicketSchema, { deviceId, instance, nonce, deferralMs: verdict.deferralMs, issuedAtMs: epochMs(nowMs) }),
        }
      : verdict.kind === 'withheld'
        ? { case: 'withheld', value: create(WithheldSchema, { reason: verdict.reason, detail: verdict.detail.slice(0, DETAIL_MAX) }) }
        : {
            case: 'updateRequired',
            value: create(UpdateRequiredSchema, {
              domain: instance,
              version: verdict.target.version,
              imageDigest: verdict.target.imageDigest,
              fetchTopic: verdict.target.fetchTopic,
              sizeBytes: BigInt(verdict.target.sizeBytes),
              releaseVersion: BigInt(verdict.target.releaseVersion),
            }),
          };
  const reply = create(TicketReplySchema, { deviceId, instance, nonce, outcome: replied });
  const problems = validateTicketReply(reply);
  if (problems.length > 0) {
    return refuse(nowMs, 'reply-invalid', problems.map((p) => `${p.field}: ${p.problem}`).join('; '), request);
  }
  const payload = seal(hub.signer, CONTEXTS.ticketReply, ticketReplyLiteCodec.encode(reply));
  const outcome = verdict.kind;
  const reason: DecisionReason = verdict.code;
  const deferralMs = verdict.kind === 'ticket' ? verdict.deferralMs : undefined;
  const decision: TicketDecision = {
    exchange: 'ticket',
    outcome,
    reason,
    deviceId,
    instance,
    reply: { topic: topics.reply(deviceId, instance), payload, expirySeconds: expirySeconds(validForMs) },
  };
  const detail =
    verdict.kind === 'withheld'
      ? verdict.detail
      : verdict.kind === 'update-required'
        ? `update to ${verdict.target.version} (release ${verdict.target.releaseVersion})`
        : undefined;
  // What the instance reported of its slots, kept for `dominion devices`; not from a malformed request.
  const runtime = verdict.code !== 'malformed-request' && request.runtime !== undefined ? instanceRuntimeOf(request.runtime) : undefined;
  return {
    decision,
    effects: {
      audit: auditEntry(nowMs, decision, { ref: requestRef(nonce), detail, deferralMs }),
      answered: { deviceId, instance, nonce, atMs: nowMs },
      activity: {
        deviceId,
        instance,
        atMs: nowMs,
        outcome,
        reason,
        ...(deferralMs !== undefined ? { deferralMs } : {}),
        ...(runtime !== undefined ? { runtime } : {}),
      },
    },
  };
}

function refuse(nowMs: number, reason: RefusalReason, detail: string, request?: TicketRequest): Decided {
  const decision: TicketDecision = {
    exchange: 'ticket',
    outcome: 'refused',
    reason,
    // Only authenticated requests get here: the device id is the signer's; the instance may not be.
    ...(request !== undefined
      ? { deviceId: request.deviceId, ...(isInstance(request.instance) ? { instance: request.instance } : {}) }
      : {}),
  };
  const ref = request !== undefined && request.nonce.length > 0 ? requestRef(request.nonce) : undefined;
  return { decision, effects: { audit: auditEntry(nowMs, decision, { detail, ref }) } };
}

function withheld(code: StateReason, reason: WithholdReason, detail: string): Answer {
  return { kind: 'withheld', code, reason, detail, validForMs: STATE_REPLY_VALID_MS };
}
