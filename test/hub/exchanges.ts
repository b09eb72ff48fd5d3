/**
 * Image and boot requests as a device signs them, and the hub's answers opened as the device would
 * (not a test file itself): shared by the image-serving, gated-boot and MQTT tests.
 */
import { CONTEXTS, randomNonce, type SignatureContext, type Signer } from '../../actors/crypto/index.ts';
import { open, pinned, seal } from '../../actors/tickets/index.ts';
import {
  bootTicketCodec,
  BootRequestSchema,
  create,
  imageChunkCodec,
  ImageRequestSchema,
  toBinary,
  type BootTicket,
  type ImageChunk,
} from '../../proto/index.ts';
import { node } from './fixtures.ts';

export interface ImageAsk {
  readonly deviceId: string;
  readonly instance: string;
  readonly label: string;
  readonly version: number | bigint;
  readonly board: string;
  readonly offset?: number | bigint;
  readonly maxBytes?: number;
  readonly nonce?: Uint8Array;
}

/** A signed ImageRequest envelope and its nonce. */
export function imageRequest(
  signer: Signer,
  ask: ImageAsk,
  context: SignatureContext = CONTEXTS.imageRequest,
): { bytes: Uint8Array; nonce: Uint8Array } {
  const nonce = ask.nonce ?? randomNonce(32);
  const req = create(ImageRequestSchema, {
    deviceId: ask.deviceId,
    instance: ask.instance,
    label: ask.label,
    version: BigInt(ask.version),
    offset: BigInt(ask.offset ?? 0),
    maxBytes: ask.maxBytes ?? 32 * 1024,
    nonce,
    board: ask.board,
  });
  return { bytes: seal(signer, context, toBinary(ImageRequestSchema, req)), nonce };
}

/** Opens a chunk with the hub's key as the device's fetcher would; throws if it does not verify or validate. */
export function openChunk(bytes: Uint8Array, hubPublicKey: Uint8Array): ImageChunk {
  const opened = open(bytes, CONTEXTS.imageChunk, pinned(node.verifier(hubPublicKey)));
  if (!opened.ok) throw opened.error;
  return imageChunkCodec.decode(opened.payload);
}

/** A BootRequest's fields, plainly (every image complete). */
export interface BootInit {
  readonly deviceId: string;
  readonly bootNonce: Uint8Array;
  readonly manifestDigest: Uint8Array;
  readonly firmwareVersion: string;
  readonly bootCount?: bigint;
  readonly images: ReadonlyArray<{ readonly label: string; readonly version: bigint; readonly digest: Uint8Array }>;
}

/** A signed BootRequest envelope (K_I signs it on a real device). */
export function bootRequest(signer: Signer, init: BootInit, context: SignatureContext = CONTEXTS.bootRequest): Uint8Array {
  return seal(signer, context, toBinary(BootRequestSchema, create(BootRequestSchema, { ...init, images: [...init.images] })));
}

/** Opens a boot ticket with the IH's key, as `sw` would; throws if it does not verify or validate. */
export function openBootTicket(bytes: Uint8Array, hubPublicKey: Uint8Array): BootTicket {
  const opened = open(bytes, CONTEXTS.bootTicket, pinned(node.verifier(hubPublicKey)));
  if (!opened.ok) throw opened.error;
  return bootTicketCodec.decode(opened.payload);
}
