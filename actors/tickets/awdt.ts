/**
 * The authenticated watchdog's ticket logic, shared by the device AWDT (`sw`) and the VM AWDTs
 * (`hypervisor`). Pure: no timers and no I/O — the actor around it owns the deadline.
 *
 * Rules (CIDER / Lazarus): a fresh 32-byte nonce per request. Unlike Lazarus, the few most recent
 * stay outstanding (`MAX_OUTSTANDING_NONCES`), so a retry can ask afresh without spoiling the late
 * answer to the try before it; the one reply that is authentic (the pinned hub's signature) and
 * answers any of them — ticket, withheld or update required — consumes them all, so no ticket is
 * usable twice. Also unlike Lazarus, a reply
 * that fails verification or answers another nonce does *not* consume it: it could never have moved
 * the deadline, and consuming it would let anyone who can publish one stale ticket ahead of each
 * genuine reply starve the device (docs/ARCHITECTURE.md §2). Signature checks are rate-bounded, so a
 * flood of forged replies costs bounded CPU instead. A ticket counts only if signed by the pinned hub
 * key for this device, instance and nonce; its
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

/**
 * Signature checks of replies: a burst of this many, then this many per second. A genuine round needs
 * one; a flood of forged replies beyond it is refused (`flood`) before any crypto, and costs the
 * device at most these checks of CPU (sw's noble backend: about 1–2 ms each on a Pi).
 */
export const REPLY_VERIFY_BURST = 32;
export const REPLY_VERIFY_PER_SECOND = 8;

/**
 * Nonces a retry may leave outstanding. Each retry draws a fresh one, so a hub that already answered
 * a lost reply's nonce answers again; the older ones still accept their late answers, each counting
 * from its own (earlier) draw, so the bound is unchanged (docs/ARCHITECTURE.md §2.2).
 */
export const MAX_OUTSTANDING_NONCES = 8;

export type ReplyOutcome =
  /** `nonceDrawnAtMs`: when (local clock) the nonce this ticket answers was drawn; the deferral counts from there. */
  | { readonly kind: 'ticket'; readonly deferralMs: number; readonly nonceDrawnAtMs: number }
  | { readonly kind: 'withheld'; readonly reason: WithholdReason; readonly detail: string }
  | { readonly kind: 'update-required'; readonly update: UpdateRequired }
  | { readonly kind: 'refused'; readonly error: TicketError };

export class AwdtCore {
  /** Nonces not yet answered, oldest first, with when each was drawn (local monotonic clock, ms since boot). */
  private outstanding: Array<{ readonly nonce: Uint8Array; readonly drawnAtMs: number }> = [];
  private readonly lookup;
  private readonly drawNonce: () => Uint8Array;
  /** Signature checks left (token bucket), and when it was last refilled. */
  private verifyTokens = REPLY_VERIFY_BURST;
  private refilledAt: number | undefined;

  constructor(private readonly config: AwdtCoreConfig) {
    this.lookup = pinned(config.hub);
    this.drawNonce = config.nonce ?? (() => randomNonce(NONCE_BYTES));
  }

  /**
   * Draws a fresh nonce (the oldest outstanding one goes past MAX_OUTSTANDING_NONCES) and returns the
   * signed request envelope.
   * `nowMs` is the device's monotonic clock (ms since it booted); it goes out as `uptime_ms`.
   */
  request(runtime: RuntimeInfo, nowMs: number): Uint8Array {
    const nonce = this.drawNonce();
    this.outstanding.push({ nonce, drawnAtMs: nowMs });
    if (this.outstanding.length > MAX_OUTSTANDING_NONCES) this.outstanding.shift();
    const req = createLite(TicketRequestLite, {
      deviceId: this.config.deviceId,
      instance: this.config.instance,
      nonce,
      runtime,
      uptimeMs: BigInt(Math.max(0, Math.floor(nowMs))),
    });
    return seal(this.config.signer, CONTEXTS.ticketRequest, toBinaryLite(TicketRequestLite, req));
  }

  /**
   * Judges one reply attempt at `nowMs` (the device's monotonic clock). The outstanding nonces are
   * consumed only by an authentic reply that answers one of them; anything else leaves them.
   */
  reply(envelope: Uint8Array, nowMs: number): ReplyOutcome {
    if (!this.mayVerify(nowMs))
      return refused(new TicketError('flood', `more than ${REPLY_VERIFY_PER_SECOND} replies a second to check: dropped unchecked`));
    const opened = open(envelope, CONTEXTS.ticketReply, this.lookup);
    if (!opened.ok) return refused(opened.error);
    const decoded = ticketReplyLiteCodec.tryDecode(opened.payload);
    if (!decoded.ok) return refused(new TicketError('malformed-payload', decoded.error.detail));
    const reply = decoded.message;
    if (reply.deviceId !== this.config.deviceId) return refused(new TicketError('wrong-device', 'reply is for another device'));
    if (reply.instance !== this.config.instance)
      return refused(new TicketError('wrong-instance', `reply is for ${reply.instance}, not ${this.config.instance}`));
    if (this.outstanding.length === 0)
      return refused(new TicketError('no-outstanding-nonce', 'no request is outstanding (already answered or never asked)'));
    const answered = this.outstanding.find((o) => bytesEqual(reply.nonce, o.nonce));
    if (answered === undefined) return refused(new TicketError('wrong-nonce', 'reply answers no outstanding nonce'));
    // Authentic and for one of ours: the one reply that consumes them all, whatever it says.
    this.outstanding = [];
    switch (reply.outcome.case) {
      case 'ticket':
        // validateTicketReply already checked the ticket echoes the reply's device, instance and nonce.
        return {
          kind: 'ticket',
          deferralMs: Math.min(reply.outcome.value.deferralMs, this.config.maxDeferralMs),
          nonceDrawnAtMs: answered.drawnAtMs,
        };
      case 'withheld':
        return { kind: 'withheld', reason: reply.outcome.value.reason, detail: reply.outcome.value.detail };
      case 'updateRequired':
        return { kind: 'update-required', update: reply.outcome.value };
      default:
        return refused(new TicketError('malformed-payload', 'reply carries no outcome'));
    }
  }

  /** Takes one signature check from the bucket, refilled at REPLY_VERIFY_PER_SECOND; false when empty. */
  private mayVerify(nowMs: number): boolean {
    if (this.refilledAt !== undefined && nowMs > this.refilledAt)
      this.verifyTokens = Math.min(REPLY_VERIFY_BURST, this.verifyTokens + ((nowMs - this.refilledAt) * REPLY_VERIFY_PER_SECOND) / 1000);
    this.refilledAt = nowMs;
    if (this.verifyTokens < 1) return false;
    this.verifyTokens -= 1;
    return true;
  }
}

function refused(error: TicketError): ReplyOutcome {
  return { kind: 'refused', error };
}
