/**
 * Size limits of the dominion.v1 wire protocol: per-field limits enforced by `validate.ts`, and
 * per-message frame limits for `decodeBounded`/`protoCodec`. The frame limits are chosen so the
 * largest message that passes validation still fits (test/proto/validate.test.ts checks this), with
 * headroom; anything bigger is rejected before it is parsed. docs/PROTOCOL.md lists them for
 * implementers of other devices and hubs; keep the two in step.
 */

/** Device identifiers: 1–64 characters of [A-Za-z0-9._-]. */
export const DEVICE_ID_MAX = 64;
/** AWDT and boot nonces: exactly 32 random bytes. */
export const NONCE_BYTES = 32;
/** Digests are SHA-512 (64 bytes); fields hold at most that. */
export const DIGEST_MAX_BYTES = 64;
/** Ed25519 signatures are exactly 64 bytes. */
export const SIGNATURE_BYTES = 64;
/** SignedEnvelope.signer_key_id: 1–64 bytes. */
export const KEY_ID_MAX_BYTES = 64;
/** SignedEnvelope.context: 1–64 characters of printable ASCII without spaces (never NUL). */
export const CONTEXT_MAX = 64;
/** DomainReport.actors: at most 256 entries. */
export const MAX_ACTORS = 256;
/** ActorReport.name: 1–128 characters of printable ASCII. */
export const ACTOR_NAME_MAX = 128;
/** Firmware and image version strings: 1–64 characters of printable ASCII. */
export const VERSION_MAX = 64;
/** Withheld.detail: at most 256 characters. */
export const DETAIL_MAX = 256;
/** UpdateRequired.fetch_topic: 1–256 characters, no MQTT wildcards, no NUL. */
export const TOPIC_MAX = 256;

/** BootRequest.images: at most this many (sw, hypervisor, mm and the services). */
export const MAX_BOOT_IMAGES = 40;
/** ImageRequest.max_bytes and ImageChunk.data: at most this many bytes of an image per chunk. */
export const IMAGE_CHUNK_MAX = 32 * 1024;
/** ImageChunk.manifest: a release's manifest.json at most this big. */
export const MANIFEST_MAX_BYTES = 16 * 1024;
/** ImageChunk.manifest_signature: a release's manifest.sig at most this big. */
export const MANIFEST_SIGNATURE_MAX_BYTES = 1024;

/** Largest accepted encoding of each message, in bytes. */
export const MAX_WIRE_BYTES = {
  ticketRequest: 64 * 1024,
  ticketReply: 2 * 1024,
  bootRequest: 8 * 1024,
  bootTicket: 1024,
  imageRequest: 1024,
  imageChunk: 64 * 1024,
  /** An envelope around the largest payload, plus signature, key id, context and tags. */
  signedEnvelope: 64 * 1024 + 512,
  /** A ServiceMessage: a record (the largest service payload plus its numbering) or a seal. */
  serviceMessage: 64 * 1024 + 64,
  /** A ServiceSeal: three names and `SEAL_MAX_RECORDS` digests. */
  serviceSeal: 10 * 1024,
} as const;

/** Sealed service data (docs/PROTOCOL.md "Sealed service data"): a service's payload is at most this big. */
export const SERVICE_PAYLOAD_MAX = 64 * 1024 - 128;
/** What sealing adds to a payload at most: ServiceMessage and ServiceRecord tags, boot, seq, lengths. */
export const SEAL_RECORD_OVERHEAD_MAX = 32;
/** ServiceSeal.record_digests: 1 to this many SHA-256 digests. */
export const SEAL_MAX_RECORDS = 256;
/** ServiceSeal.record_digests: each a SHA-256 digest. */
export const RECORD_DIGEST_BYTES = 32;

/** Signature context strings, one per signed message kind (see envelope.proto). */
export const SIGNATURE_CONTEXT = {
  ticketRequest: 'dominion/v1/ticket-request',
  ticketReply: 'dominion/v1/ticket-reply',
  bootRequest: 'dominion/v1/boot-request',
  bootTicket: 'dominion/v1/boot-ticket',
  imageRequest: 'dominion/v1/image-request',
  imageChunk: 'dominion/v1/image-chunk',
  manifest: 'dominion/v1/manifest',
  /** A board's install archive (`dominion pack`): its PACK.json, by the release key. */
  pack: 'dominion/v1/pack',
  serviceSeal: 'dominion/v1/service-seal',
} as const;
export type SignatureContext = (typeof SIGNATURE_CONTEXT)[keyof typeof SIGNATURE_CONTEXT];
