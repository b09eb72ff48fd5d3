/**
 * The hub's decision for one ticket request (ARCHITECTURE.md §2 step 6): bytes in, decision out, no
 * network and no clock of its own, so it is tested without a broker and the server stays a thin shell.
 *
 * Order of checks, and why:
 * 1. Open the envelope (context, enrolled signer, signature) — before anything is decoded (§7).
 * 2. Decode and validate the TicketRequest.
 * 3. The signer key must be the one enrolled for exactly the (device, instance) the request names:
 *    a K_SM or K_MM key never speaks for `device`.
 *    Failures up to here get NO reply: the reply topic is chosen by the request, and answering
 *    unauthenticated input would let anyone aim our (signed) replies at any device. They are counted.
 * 4. The instance must be one this hub dominates, else WITHHELD WRONG_HUB. Reachable when the registry
 *    holds keys this hub does not answer for (one database shared by hubs of several roles, or a
 *    mis-enrolment); the request is authenticated by then, so answering is safe and names the mistake.
 * 4a. The nonce must not have been answered before for this device and instance (replay): refused,
 *    no reply — answering it again would only re-sign an old nonce.
 * 5. Device state (revoked, quarantined), then policy.
 *
 * Writes (activity, audit, answered nonces) go through the registry, audit log and replay guard;
 * a SQLite-backed store queues them and commits them in one transaction per batch, and the server
 * publishes the replies only after that commit (sqlite/, hub-server.ts).
 */
import { CONTEXTS, type Signer } from '../crypto/index.ts';
import { open, seal, type TicketErrorCode } from '../tickets/index.ts';
import {
  codecs,
  create,
  DETAIL_MAX,
  TicketReplySchema,
  topics,
  validateTicketReply,
  WithholdReason,
  type Instance,
  type TicketReply,
  type TicketRequest,
} from '../../proto/index.ts';
import type { AuditLog } from './audit.ts';
import { requestRef, type ReplayGuard } from './replay.ts';
import { DecisionCounters, type HubCounterSnapshot } from './counters.ts';
import type { HubPolicy, UpdateTarget } from './policy.ts';
import type { EnrolledKey, HubRegistry } from './registry.ts';
import { dominates, type HubRole } from './role.ts';

export type HubOutcome = 'ticket' | 'withheld' | 'update-required' | 'refused';

/** Why a request got no reply at all. */
export type RefusalReason =
  | 'malformed-envelope'
  | 'wrong-context'
  | 'unknown-signer'
  | 'bad-signature'
  | 'malformed-payload'
  | 'key-device-mismatch'
  | 'key-instance-mismatch'
  | 'replayed'
  | 'reply-invalid'
  | 'internal-error';

/** A signed reply ready to publish: QoS 1, never retained, MQTT 5 message expiry `expirySeconds`. */
export interface HubReply {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly expirySeconds: number;
}

export interface HubDecision {
  readonly outcome: HubOutcome;
  /** `granted`, a policy code, `revoked`/`quarantined`/`wrong-hub`/`unknown-device`, or a RefusalReason. */
  readonly reason: string;
  readonly deviceId?: string;
  readonly instance?: string;
  /** Absent exactly when `outcome` is `refused`. */
  readonly reply?: HubReply;
}

export interface HubCoreOptions {
  readonly role: HubRole;
  readonly registry: HubRegistry;
  readonly policy: HubPolicy;
  /** The hub's signing key (K_IH or K_SH_k). */
  readonly signer: Signer;
  readonly audit?: AuditLog;
  /** Refuses requests whose nonce was already answered; without one, replays are answered again. */
  readonly replay?: ReplayGuard;
}

/** A policy verdict, or one of the core's own state checks (same shape, wider `code`). */
type Answer =
  | { readonly kind: 'ticket'; readonly code: string; readonly deferralMs: number }
  | { readonly kind: 'withheld'; readonly code: string; readonly reason: WithholdReason; readonly detail: string; readonly validForMs: number }
  | { readonly kind: 'update-required'; readonly code: string; readonly target: UpdateTarget; readonly validForMs: number };

/** Message expiry of refusals that no policy sized (unknown device, revoked, quarantined, wrong hub). */
const STATE_REPLY_VALID_MS = 60_000;

export class HubCore {
  readonly role: HubRole;
  readonly #registry: HubRegistry;
  readonly #policy: HubPolicy;
  readonly #signer: Signer;
  readonly #audit: AuditLog | undefined;
  readonly #replay: ReplayGuard | undefined;
  readonly #counters = new DecisionCounters();

  constructor(options: HubCoreOptions) {
    this.role = options.role;
    this.#registry = options.registry;
    this.#policy = options.policy;
    this.#signer = options.signer;
    this.#audit = options.audit;
    this.#replay = options.replay;
  }

  /** The hub's public key, as devices pin it. */
  get publicKey(): Uint8Array {
    return this.#signer.publicKey.slice();
  }

  counters(): HubCounterSnapshot {
    return this.#counters.snapshot();
  }

  /** Decides on one request. Never throws: every failure is a counted `refused` decision. */
  handleRequest(bytes: Uint8Array, nowMs: number): HubDecision {
    try {
      return this.#decide(bytes, nowMs);
    } catch (err) {
      // A bug or a failing registry/policy backend: answer nothing (the AWDT then expires, which is
      // the safe side) and keep serving.
      return this.#refuse(nowMs, 'internal-error', err instanceof Error ? err.name : 'error');
    }
  }

  #decide(bytes: Uint8Array, nowMs: number): HubDecision {
    let signer: EnrolledKey | undefined;
    const opened = open(bytes, CONTEXTS.ticketRequest, (keyId) => {
      signer = this.#registry.keyById(keyId);
      return signer?.verifier;
    });
    if (!opened.ok) return this.#refuse(nowMs, refusalOf(opened.error.code), opened.error.message);
    if (signer === undefined) return this.#refuse(nowMs, 'unknown-signer', 'signer vanished during lookup');

    const decoded = codecs.ticketRequest.tryDecode(opened.payload);
    if (!decoded.ok) return this.#refuse(nowMs, 'malformed-payload', decoded.error.detail);
    const request = decoded.message;
    const instance = request.instance as Instance; // validated by the codec

    if (request.deviceId !== signer.deviceId) {
      return this.#refuse(nowMs, 'key-device-mismatch', `key enrolled for another device, request names ${request.deviceId}`);
    }
    if (instance !== signer.instance) {
      return this.#refuse(nowMs, 'key-instance-mismatch', `key enrolled for ${signer.instance}, request names ${instance}`, request);
    }
    if (this.#replay?.seen(request.deviceId, instance, request.nonce)) {
      return this.#refuse(nowMs, 'replayed', 'this nonce was already answered for this device and instance', request);
    }
    if (!dominates(this.role, instance)) {
      return this.#answer(request, nowMs, withheld('wrong-hub', WithholdReason.WRONG_HUB, `this hub does not dominate ${instance}`));
    }

    const device = this.#registry.device(request.deviceId);
    if (device === undefined) {
      return this.#answer(request, nowMs, withheld('unknown-device', WithholdReason.UNKNOWN_DEVICE, 'device is not enrolled'));
    }
    if (device.state === 'revoked') {
      return this.#answer(request, nowMs, withheld('revoked', WithholdReason.REVOKED, 'device is revoked'));
    }
    if (device.state === 'quarantined') {
      return this.#answer(request, nowMs, withheld('quarantined', WithholdReason.QUARANTINED, 'device is quarantined'));
    }
    if (request.runtime === undefined) return this.#refuse(nowMs, 'malformed-payload', 'runtime missing'); // validated; keeps types honest
    return this.#answer(request, nowMs, this.#policy.evaluate(request.deviceId, instance, request.runtime));
  }

  #answer(request: TicketRequest, nowMs: number, verdict: Answer): HubDecision {
    const { deviceId, instance, nonce } = request;
    let reply: TicketReply;
    let validForMs: number;
    switch (verdict.kind) {
      case 'ticket':
        validForMs = verdict.deferralMs;
        reply = create(TicketReplySchema, {
          deviceId,
          instance,
          nonce,
          outcome: {
            case: 'ticket',
            value: { deviceId, instance, nonce, deferralMs: verdict.deferralMs, issuedAtMs: epochMs(nowMs) },
          },
        });
        break;
      case 'withheld':
        validForMs = verdict.validForMs;
        reply = create(TicketReplySchema, {
          deviceId,
          instance,
          nonce,
          outcome: { case: 'withheld', value: { reason: verdict.reason, detail: verdict.detail.slice(0, DETAIL_MAX) } },
        });
        break;
      case 'update-required': {
        validForMs = verdict.validForMs;
        const t = verdict.target;
        reply = create(TicketReplySchema, {
          deviceId,
          instance,
          nonce,
          outcome: {
            case: 'updateRequired',
            value: { domain: instance, version: t.version, imageDigest: t.imageDigest, fetchTopic: t.fetchTopic, sizeBytes: BigInt(t.sizeBytes) },
          },
        });
        break;
      }
    }
    const problems = validateTicketReply(reply);
    if (problems.length > 0) {
      return this.#refuse(nowMs, 'reply-invalid', problems.map((p) => `${p.field}: ${p.problem}`).join('; '), request);
    }
    const payload = seal(this.#signer, CONTEXTS.ticketReply, codecs.ticketReply.encode(reply));
    const outcome: HubOutcome = verdict.kind;
    const decision: HubDecision = {
      outcome,
      reason: verdict.code,
      deviceId,
      instance,
      reply: { topic: topics.reply(deviceId, instance), payload, expirySeconds: Math.max(1, Math.ceil(validForMs / 1000)) },
    };
    const inst = instance as Instance;
    this.#replay?.remember(deviceId, inst, nonce, nowMs);
    this.#registry.recordRequest(deviceId, inst, nowMs, outcome, verdict.code);
    if (verdict.kind === 'ticket') this.#registry.recordTicket(deviceId, inst, nowMs, verdict.deferralMs);
    this.#record(nowMs, decision, {
      ref: requestRef(nonce),
      ...(verdict.kind === 'withheld' ? { detail: verdict.detail } : {}),
      ...(verdict.kind === 'update-required' ? { detail: `update to ${verdict.target.version}` } : {}),
      ...(verdict.kind === 'ticket' ? { deferralMs: verdict.deferralMs } : {}),
    });
    return decision;
  }

  #refuse(nowMs: number, reason: RefusalReason, detail: string, request?: TicketRequest): HubDecision {
    const decision: HubDecision = {
      outcome: 'refused',
      reason,
      ...(request !== undefined ? { deviceId: request.deviceId, instance: request.instance } : {}),
    };
    this.#record(nowMs, decision, { detail, ...(request !== undefined && request.nonce.length > 0 ? { ref: requestRef(request.nonce) } : {}) });
    return decision;
  }

  #record(nowMs: number, decision: HubDecision, extra: { detail?: string; deferralMs?: number; ref?: string }): void {
    this.#counters.count(decision.outcome, decision.reason);
    if (this.#audit === undefined) return;
    try {
      this.#audit.append({
        atMs: nowMs,
        outcome: decision.outcome,
        reason: decision.reason,
        ...(extra.detail !== undefined ? { detail: extra.detail.slice(0, DETAIL_MAX) } : {}),
        ...(decision.deviceId !== undefined ? { deviceId: decision.deviceId } : {}),
        ...(decision.instance !== undefined ? { instance: decision.instance } : {}),
        ...(extra.deferralMs !== undefined ? { deferralMs: extra.deferralMs } : {}),
        ...(extra.ref !== undefined ? { ref: extra.ref } : {}),
      });
    } catch {
      // A failing audit backend must not turn into a crash or a lost reply; it is counted instead.
      this.#counters.auditFailed();
    }
  }
}

function withheld(code: string, reason: WithholdReason, detail: string): Answer {
  return { kind: 'withheld', code, reason, detail, validForMs: STATE_REPLY_VALID_MS };
}

function refusalOf(code: TicketErrorCode): RefusalReason {
  switch (code) {
    case 'malformed-envelope':
    case 'wrong-context':
    case 'unknown-signer':
    case 'bad-signature':
      return code;
    default:
      return 'internal-error'; // open() reports only the four above
  }
}

/** Milliseconds since the epoch as the uint64 the protocol carries; a bad clock reads as 0. */
function epochMs(nowMs: number): bigint {
  return Number.isFinite(nowMs) && nowMs > 0 ? BigInt(Math.trunc(nowMs)) : 0n;
}
