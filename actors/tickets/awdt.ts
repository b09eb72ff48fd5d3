/**
 * The authenticated watchdog's ticket logic, shared by the device AWDT (`sw`) and the VM AWDTs
 * (`hypervisor`). Pure: no timers and no I/O — the actor around it owns the deadline.
 *
 * Rules (CIDER / Lazarus): a fresh 32-byte nonce per request, only one outstanding (a newer request
 * replaces it), cleared after *every* reply attempt, valid or not, so no ticket is usable twice; a
 * ticket counts only if signed by the pinned hub key for this device, instance and nonce; its
 * deferral is capped by the AWDT's own maximum and counts from when the nonce was drawn — the hub
 * answered after that, so whoever delays a request or a reply on the way only shortens the deadline.
 */
import { bytesEqual, CONTEXTS, randomNonce, type Signer, type Verifier } from '../crypto/index.ts';
import {
  createLite,
  NONCE_BYTES,
  TicketRequestLite,
  ticketReplyLiteCodec,
  toBinaryLite,
  type RuntimeInfo,
  type UpdateRequired,
  type WithholdReason,
} from '../../proto/index.ts';
import { open, pinned, seal } from './envelope.ts';
import { TicketError } from './errors.ts';

export interface AwdtCoreConfig {
  readonly deviceId: string;
  readonly instance: string;
  /** Signs this instance's requests (K_I, K_MM or K_SM_k). */
  readonly signer: Signer;
  /** The dominating hub's public key, pinned at provisioning (IH, or SH_k for sm:k). */
  readonly hub: Verifier;
  readonly maxDeferralMs: number;
  /** CSPRNG for nonces; injectable so tests can be exact. */
  readonly nonce?: () => Uint8Array;
}

export type ReplyOutcome =
  /** `nonceDrawnAtMs`: when (local clock) the nonce this ticket answers was drawn; the deferral counts from there. */
  | { readonly kind: 'ticket'; readonly deferralMs: number; readonly nonceDrawnAtMs: number }
  | { readonly kind: 'withheld'; readonly reason: WithholdReason; readonly detail: string }
  | { readonly kind: 'update-required'; readonly update: UpdateRequired }
  | { readonly kind: 'refused'; readonly error: TicketError };

export class AwdtCore {
  private outstanding: Uint8Array | null = null;
  /** When the outstanding nonce was drawn (local monotonic clock, ms since boot). */
  private outstandingAt = 0;
  private readonly lookup;
  private readonly drawNonce: () => Uint8Array;

  constructor(private readonly config: AwdtCoreConfig) {
    this.lookup = pinned(config.hub);
    this.drawNonce = config.nonce ?? (() => randomNonce(NONCE_BYTES));
  }

  /**
   * Draws a fresh nonce (replacing any outstanding one) and returns the signed request envelope.
   * `nowMs` is the device's monotonic clock (ms since it booted); it goes out as `uptime_ms`.
   */
  request(runtime: RuntimeInfo, nowMs: number): Uint8Array {
    const nonce = this.drawNonce();
    this.outstanding = nonce;
    this.outstandingAt = nowMs;
    const req = createLite(TicketRequestLite, {
      deviceId: this.config.deviceId,
      instance: this.config.instance,
      nonce,
      runtime,
      uptimeMs: BigInt(Math.max(0, Math.floor(nowMs))),
    });
    return seal(this.config.signer, CONTEXTS.ticketRequest, toBinaryLite(TicketRequestLite, req));
  }

  /** Judges one reply attempt. The outstanding nonce is gone afterwards, whatever the outcome. */
  reply(envelope: Uint8Array): ReplyOutcome {
    const expected = this.outstanding;
    this.outstanding = null;
    const opened = open(envelope, CONTEXTS.ticketReply, this.lookup);
    if (!opened.ok) return refused(opened.error);
    const decoded = ticketReplyLiteCodec.tryDecode(opened.payload);
    if (!decoded.ok) return refused(new TicketError('malformed-payload', decoded.error.detail));
    const reply = decoded.message;
    if (reply.deviceId !== this.config.deviceId) return refused(new TicketError('wrong-device', 'reply is for another device'));
    if (reply.instance !== this.config.instance)
      return refused(new TicketError('wrong-instance', `reply is for ${reply.instance}, not ${this.config.instance}`));
    if (expected === null)
      return refused(new TicketError('no-outstanding-nonce', 'no request is outstanding (already answered or never asked)'));
    if (!bytesEqual(reply.nonce, expected)) return refused(new TicketError('wrong-nonce', 'reply is not for the outstanding nonce'));
    switch (reply.outcome.case) {
      case 'ticket':
        // validateTicketReply already checked the ticket echoes the reply's device, instance and nonce.
        return {
          kind: 'ticket',
          deferralMs: Math.min(reply.outcome.value.deferralMs, this.config.maxDeferralMs),
          nonceDrawnAtMs: this.outstandingAt,
        };
      case 'withheld':
        return { kind: 'withheld', reason: reply.outcome.value.reason, detail: reply.outcome.value.detail };
      case 'updateRequired':
        return { kind: 'update-required', update: reply.outcome.value };
      default:
        return refused(new TicketError('malformed-payload', 'reply carries no outcome'));
    }
  }
}

function refused(error: TicketError): ReplyOutcome {
  return { kind: 'refused', error };
}
