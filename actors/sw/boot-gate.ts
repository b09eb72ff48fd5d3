/**
 * Gated boot (docs/ARCHITECTURE.md §5): every boot starts in recovery mode — sw, the hypervisor and
 * `mm` only — and the services start once the IH grants a BootTicket for *this* boot. `sw` draws one
 * nonce per boot (Lazarus draws a next-boot nonce because its core has no network; here recovery mode
 * reaches the IH itself, so a fresh nonce per boot gives the same guarantee: a ticket from an earlier
 * boot never matches) and binds the request to the digests of the images it is about to run; the
 * ticket must echo both, for the latest images asked about.
 *
 * Unlike an AWDT's, the boot nonce is not cleared by a failed reply: it lives for the whole boot, so
 * a forged or stale reply cannot spoil the genuine one, and a late genuine grant still counts.
 */
import type { ActorContext, ActorSpec, Behavior } from '../../runtime/index.ts';
import {
  BootRequestLite,
  bootImagesBytes,
  bootTicketLiteCodec,
  createLite,
  NONCE_BYTES,
  toBinaryLite,
  type BootImageLike,
  type WithholdReason,
} from '../../proto/index.ts';
import { bytesEqual, CONTEXTS, randomNonce, type Signer, type Verifier } from '../crypto/index.ts';
import { open, pinned, seal, TicketError } from '../tickets/index.ts';

export interface BootGateConfig {
  readonly deviceId: string;
  /** K_I. */
  readonly signer: Signer;
  /** The pinned IH key. */
  readonly ih: Verifier;
  readonly sha512: (data: Uint8Array) => Uint8Array;
  /**
   * What this boot runs once granted: every image, as its slot holds it — asked again at every
   * request, since an image can change in recovery mode (mm updated to a release the IH requires).
   */
  readonly images: () => readonly BootImageLike[];
  readonly manifestDigest: Uint8Array;
  readonly firmwareVersion: string;
  readonly bootCount: number;
  readonly nonce?: () => Uint8Array;
}

export type BootVerdict =
  | { readonly kind: 'granted'; readonly initialTimeoutMs: number }
  | { readonly kind: 'withheld'; readonly reason: WithholdReason; readonly detail: string }
  | { readonly kind: 'refused'; readonly error: TicketError };

export class BootGateCore {
  private readonly nonce: Uint8Array;
  private readonly lookup;
  /** The latest request: a ticket must be for its images. Re-signed only when the images change. */
  private sent: { readonly imagesDigest: Uint8Array; readonly envelope: Uint8Array } | undefined;

  constructor(private readonly config: BootGateConfig) {
    this.nonce = (config.nonce ?? (() => randomNonce(NONCE_BYTES)))();
    this.lookup = pinned(config.ih);
  }

  /** The signed request for this boot's nonce and the images it runs now; the same bytes while they do not change. */
  request(): Uint8Array {
    const images = this.config.images();
    const imagesDigest = this.config.sha512(bootImagesBytes(images));
    if (this.sent !== undefined && bytesEqual(this.sent.imagesDigest, imagesDigest)) return this.sent.envelope;
    const req = createLite(BootRequestLite, {
      deviceId: this.config.deviceId,
      bootNonce: this.nonce,
      manifestDigest: this.config.manifestDigest,
      firmwareVersion: this.config.firmwareVersion,
      bootCount: BigInt(this.config.bootCount),
      images: images.map((i) => ({ label: i.label, version: i.version, digest: i.digest })),
    });
    this.sent = { imagesDigest, envelope: seal(this.config.signer, CONTEXTS.bootRequest, toBinaryLite(BootRequestLite, req)) };
    return this.sent.envelope;
  }

  /** Judges one reply on the boot lane. Never throws. */
  reply(envelope: Uint8Array): BootVerdict {
    const opened = open(envelope, CONTEXTS.bootTicket, this.lookup);
    if (!opened.ok) return { kind: 'refused', error: opened.error };
    const decoded = bootTicketLiteCodec.tryDecode(opened.payload);
    if (!decoded.ok) return refused('malformed-payload', decoded.error.detail);
    const ticket = decoded.message;
    if (ticket.deviceId !== this.config.deviceId) return refused('wrong-device', 'boot ticket is for another device');
    if (!bytesEqual(ticket.bootNonce, this.nonce)) return refused('wrong-nonce', 'boot ticket is not for this boot');
    if (
      this.sent === undefined ||
      !bytesEqual(ticket.imagesDigest, this.sent.imagesDigest) ||
      !bytesEqual(ticket.manifestDigest, this.config.manifestDigest)
    )
      return refused('wrong-nonce', 'boot ticket is for other images than this boot runs');
    if (ticket.withheld !== undefined) return { kind: 'withheld', reason: ticket.withheld.reason, detail: ticket.withheld.detail };
    return { kind: 'granted', initialTimeoutMs: ticket.initialTimeoutMs };
  }
}

function refused(code: TicketError['code'], detail: string): BootVerdict {
  return { kind: 'refused', error: new TicketError(code, detail) };
}

export type GateEvent =
  | { readonly type: 'recovery'; readonly at: number }
  | { readonly type: 'boot-granted'; readonly at: number }
  | { readonly type: 'boot-withheld'; readonly reason: WithholdReason; readonly detail: string; readonly at: number }
  | { readonly type: 'boot-refused'; readonly code: TicketError['code']; readonly detail: string; readonly at: number };

export type GateMsg = { readonly type: 'ask' } | { readonly type: 'reply'; readonly envelope: Uint8Array };

export interface BootGateOptions {
  readonly core: () => BootGateCore;
  /** How often to ask again until granted (a reply may be lost; a quarantine may be lifted). */
  readonly retryMs: number;
  readonly send: (envelope: Uint8Array) => void;
  /** Called once, when the IH grants this boot. */
  readonly granted: () => void;
  readonly events?: (event: GateEvent) => void;
}

/** The gate as an actor of `sw`: asks at start and every `retryMs` until granted, then falls silent. */
export function bootGate(o: BootGateOptions): ActorSpec<GateMsg> {
  // Survives restarts of the actor: a boot is granted once.
  let granted = false;
  let core: BootGateCore | undefined;
  return {
    name: 'boot-gate',
    capacity: 8,
    start: (ctx: ActorContext<GateMsg>): Behavior<GateMsg> => {
      core ??= o.core();
      const gate = core;
      const emit = o.events ?? (() => {});
      const retry = ctx.timer({ type: 'ask' });
      if (!granted) {
        emit({ type: 'recovery', at: ctx.now() });
        retry.arm(0, o.retryMs);
      }
      return {
        receive(msg: GateMsg): void {
          if (granted) return;
          if (msg.type === 'ask') return o.send(gate.request());
          const verdict = gate.reply(msg.envelope);
          const at = ctx.now();
          switch (verdict.kind) {
            case 'granted':
              granted = true;
              retry.disarm();
              emit({ type: 'boot-granted', at });
              o.granted();
              return;
            case 'withheld':
              emit({ type: 'boot-withheld', reason: verdict.reason, detail: verdict.detail, at });
              return;
            case 'refused':
              emit({ type: 'boot-refused', code: verdict.error.code, detail: verdict.error.message, at });
          }
        },
      };
    },
  };
}
