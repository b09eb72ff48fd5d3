/**
 * What a hub decision is, whatever the exchange (reasons.ts `Exchange`): an outcome, its reason, and
 * the signed reply to publish once the decision's effects are committed (hub-server.ts). The three
 * exchanges keep outcomes and reasons of their own, so a boot or an image decision can never be
 * counted or stored as a ticket decision.
 */
import { DETAIL_MAX } from '../../proto/index.ts';
import type { AuditEntry, AuditOutcome } from './audit.ts';
import type { AuditReason, BootOutcome, BootReason, DecisionReason, HubOutcome, ImageOutcome, ImageReason } from './reasons.ts';

/** A signed reply ready to publish: QoS 1, never retained, MQTT 5 message expiry `expirySeconds`. */
export interface HubReply {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly expirySeconds: number;
}

interface DecisionBase {
  readonly deviceId?: string;
  readonly instance?: string;
  /** Absent exactly when `outcome` is `refused`. */
  readonly reply?: HubReply;
}

/** A ticket request's decision (decide.ts). */
export interface TicketDecision extends DecisionBase {
  readonly exchange: 'ticket';
  readonly outcome: HubOutcome;
  readonly reason: DecisionReason;
}

/** A boot request's decision (decide-boot.ts). */
export interface BootDecision extends DecisionBase {
  readonly exchange: 'boot';
  readonly outcome: BootOutcome;
  readonly reason: BootReason;
}

/** An image request's decision (decide-image.ts); `bytes`: image bytes in a served chunk. */
export interface ImageDecision extends DecisionBase {
  readonly exchange: 'image';
  readonly outcome: ImageOutcome;
  readonly reason: ImageReason;
  readonly bytes?: number;
}

export type HubDecision = TicketDecision | BootDecision | ImageDecision;

/**
 * MQTT 5 message expiry: whole seconds, never longer than the reply is useful (rounded down), at
 * least 1 (0 would mean "never expires"). Policies grant no deferral under 1 s (policy.ts), so the
 * floor of 1 never stretches one.
 */
export function expirySeconds(validForMs: number): number {
  return Math.max(1, Math.floor(validForMs / 1000));
}

/** A decision's audit row: names, outcome and reason, bounded detail; never key, ticket or image bytes. */
export function auditEntry(
  nowMs: number,
  d: { readonly outcome: AuditOutcome; readonly reason: AuditReason; readonly deviceId?: string; readonly instance?: string },
  extra: { detail?: string | undefined; deferralMs?: number | undefined; ref?: string | undefined },
): AuditEntry {
  return {
    atMs: nowMs,
    outcome: d.outcome,
    reason: d.reason,
    ...(extra.detail !== undefined ? { detail: extra.detail.slice(0, DETAIL_MAX) } : {}),
    ...(d.deviceId !== undefined ? { deviceId: d.deviceId } : {}),
    ...(d.instance !== undefined ? { instance: d.instance } : {}),
    ...(extra.deferralMs !== undefined ? { deferralMs: extra.deferralMs } : {}),
    ...(extra.ref !== undefined ? { ref: extra.ref } : {}),
  };
}

/** Milliseconds since the epoch as the uint64 the protocol carries; a bad clock reads as 0. */
export function epochMs(nowMs: number): bigint {
  return Number.isFinite(nowMs) && nowMs > 0 ? BigInt(Math.trunc(nowMs)) : 0n;
}
