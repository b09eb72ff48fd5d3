/**
 * Fetching one domain image from the hub that dominates it (image.proto, docs/PROTOCOL.md): pure
 * request/reply logic, no timers and no I/O — the actor around it (fetcher.ts) owns retries.
 *
 * What it checks, in order, before it keeps a byte: the chunk is signed by the pinned hub, echoes
 * this device, instance, label, version and the outstanding request's nonce, and starts exactly where
 * the image so far ends. The image's size is capped before anything is buffered (TUF's endless-data
 * attack), and at offset 0 the release's manifest must have the digest the hub's UPDATE_REQUIRED named,
 * when it named one. The bytes themselves are trusted only later, when the whole image verifies
 * against the release key (actors/release) — a hub can serve only what the release key signed.
 */
import { bytesEqual, CONTEXTS, randomNonce, type Signer, type Verifier } from '../crypto/index.ts';
import {
  createLite,
  IMAGE_CHUNK_MAX,
  ImageRequestLite,
  imageChunkLiteCodec,
  NONCE_BYTES,
  toBinaryLite,
  type WithholdReason,
} from '../../proto/index.ts';
import { open, pinned, seal } from '../tickets/envelope.ts';
import type { TicketErrorCode } from '../tickets/errors.ts';

export interface FetchTarget {
  /** `sw`, `hypervisor`, `mm` or `sm:<service>`. */
  readonly label: string;
  readonly version: number;
  /** The board profile the device runs (releases are per board). */
  readonly board: string;
  /** The largest image accepted, in bytes: bigger is refused before a byte is kept. */
  readonly maxBytes: number;
  /** SHA-512 the release's manifest must have (UPDATE_REQUIRED.image_digest); none for a restore. */
  readonly manifestDigest?: Uint8Array;
}

export interface FetchedImage {
  readonly manifest: Uint8Array;
  readonly signature: Uint8Array;
  readonly bundle: Uint8Array;
}

export type FetchStep =
  /** Send this request next (the first, or the one for the next chunk). */
  | { readonly kind: 'request'; readonly envelope: Uint8Array }
  | { readonly kind: 'done'; readonly image: FetchedImage }
  /** The hub refused: no use asking again at once. */
  | { readonly kind: 'refused'; readonly reason: WithholdReason; readonly detail: string }
  /** The transfer cannot succeed (too big, not the named release): stop. */
  | { readonly kind: 'failed'; readonly detail: string }
  /** Not for the outstanding request, or forged: dropped, the transfer goes on. */
  | { readonly kind: 'ignored'; readonly code: TicketErrorCode | 'wrong-chunk'; readonly detail: string };

export interface FetchCoreConfig {
  readonly deviceId: string;
  /** Whose key signs the requests: `device` (sw, hypervisor images), `mm` or `sm:<service>`. */
  readonly instance: string;
  readonly signer: Signer;
  /** The dominating hub's pinned key. */
  readonly hub: Verifier;
  readonly sha512: (data: Uint8Array) => Uint8Array;
  readonly chunkBytes?: number;
  readonly nonce?: () => Uint8Array;
}

interface Transfer {
  readonly target: FetchTarget;
  nonce: Uint8Array;
  offset: number;
  buffer: Uint8Array | undefined;
  manifest: Uint8Array | undefined;
  signature: Uint8Array | undefined;
  /** The request for `offset`, resent as is on a retry (same nonce: a late reply still counts). */
  request: Uint8Array;
}

export class ImageFetchCore {
  private transfer: Transfer | undefined;
  private readonly lookup;
  private readonly chunkBytes: number;
  private readonly drawNonce: () => Uint8Array;

  constructor(private readonly config: FetchCoreConfig) {
    this.lookup = pinned(config.hub);
    this.chunkBytes = Math.min(config.chunkBytes ?? IMAGE_CHUNK_MAX, IMAGE_CHUNK_MAX);
    this.drawNonce = config.nonce ?? (() => randomNonce(NONCE_BYTES));
  }

  get busy(): FetchTarget | undefined {
    return this.transfer?.target;
  }

  /** Starts (or restarts) a transfer; returns the first request. */
  start(target: FetchTarget): Uint8Array {
    const t: Transfer = {
      target,
      nonce: new Uint8Array(0),
      offset: 0,
      buffer: undefined,
      manifest: undefined,
      signature: undefined,
      request: new Uint8Array(0),
    };
    this.transfer = t;
    return this.ask(t);
  }

  /** The outstanding request again (a retry after silence). */
  retry(): Uint8Array | undefined {
    return this.transfer?.request;
  }

  cancel(): void {
    this.transfer = undefined;
  }

  /** Judges one reply on this instance's image lane. Never throws. */
  reply(envelope: Uint8Array): FetchStep {
    const t = this.transfer;
    if (t === undefined) return ignored('no-outstanding-nonce', 'no transfer is under way');
    const opened = open(envelope, CONTEXTS.imageChunk, this.lookup);
    if (!opened.ok) return ignored(opened.error.code, opened.error.message);
    const decoded = imageChunkLiteCodec.tryDecode(opened.payload);
    if (!decoded.ok) return ignored('malformed-payload', decoded.error.detail);
    const c = decoded.message;
    if (c.deviceId !== this.config.deviceId || c.instance !== this.config.instance)
      return ignored('wrong-instance', 'chunk is for another device or instance');
    if (!bytesEqual(c.nonce, t.nonce)) return ignored('wrong-nonce', 'chunk does not answer the outstanding request');
    if (c.label !== t.target.label || c.version !== BigInt(t.target.version) || c.offset !== BigInt(t.offset))
      return ignored('wrong-chunk', `chunk is ${c.label}@${c.version}+${c.offset}, not the one asked for`);
    if (c.refused !== undefined) {
      this.transfer = undefined;
      return { kind: 'refused', reason: c.refused.reason, detail: c.refused.detail };
    }
    if (t.buffer === undefined) {
      // Offset 0: the size is fixed here, capped before a byte is kept.
      if (c.totalBytes > BigInt(t.target.maxBytes))
        return this.fail(`the image is ${c.totalBytes} bytes, more than the ${t.target.maxBytes} accepted`);
      const digest = t.target.manifestDigest;
      if (digest !== undefined && !bytesEqual(this.config.sha512(c.manifest), digest))
        return this.fail('the release manifest is not the one the hub named in UPDATE_REQUIRED');
      t.buffer = new Uint8Array(Number(c.totalBytes));
      t.manifest = c.manifest.slice();
      t.signature = c.manifestSignature.slice();
    } else if (c.totalBytes !== BigInt(t.buffer.length)) return this.fail('the image changed size during the transfer');
    if (c.data.length === 0 && t.offset < t.buffer.length) return this.fail('the hub sent an empty chunk before the end');
    t.buffer.set(c.data, t.offset);
    t.offset += c.data.length;
    if (t.offset >= t.buffer.length) {
      this.transfer = undefined;
      return { kind: 'done', image: { manifest: t.manifest!, signature: t.signature!, bundle: t.buffer } };
    }
    return { kind: 'request', envelope: this.ask(t) };
  }

  private ask(t: Transfer): Uint8Array {
    t.nonce = this.drawNonce();
    const req = createLite(ImageRequestLite, {
      deviceId: this.config.deviceId,
      instance: this.config.instance,
      label: t.target.label,
      version: BigInt(t.target.version),
      offset: BigInt(t.offset),
      maxBytes: this.chunkBytes,
      nonce: t.nonce,
      board: t.target.board,
    });
    t.request = seal(this.config.signer, CONTEXTS.imageRequest, toBinaryLite(ImageRequestLite, req));
    return t.request;
  }

  private fail(detail: string): FetchStep {
    this.transfer = undefined;
    return { kind: 'failed', detail };
  }
}

function ignored(code: TicketErrorCode | 'wrong-chunk', detail: string): FetchStep {
  return { kind: 'ignored', code, detail };
}
