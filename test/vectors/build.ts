/**
 * Golden vectors of the dominion.v1 ticket exchange (docs/PROTOCOL.md, "Worked example"): fixed keys,
 * nonces and runtime information in; the exact request and reply bytes out. Ed25519 is deterministic,
 * so every byte is fixed by the inputs.
 *
 * `buildVectors(inputs)` makes every value with the project's own code (the AWDT core signs the
 * requests, `seal` signs the replies); `generate.ts` writes the result to ticket-v1.json and
 * vectors.test.ts rebuilds it from the file's `inputs` and checks it byte for byte, then checks the
 * committed bytes again by an independent path (node:crypto and a hand-written protobuf reader).
 */
import {
  CONTEXTS,
  cryptoBackend,
  fromHex,
  hex,
  signedBytes,
  type CryptoBackendName,
  type SignatureContext,
} from '../../actors/crypto/index.ts';
import { AwdtCore, seal } from '../../actors/tickets/index.ts';
import {
  codecs,
  create,
  DeferralTicketSchema,
  ResetReason,
  RuntimeInfoSchema,
  TicketReplySchema,
  topics,
  UpdateRequiredSchema,
  WithheldSchema,
  WithholdReason,
  type MessageInitShape,
  type TicketReply,
} from '../../proto/index.ts';

/** Everything the vectors are made from; strings of hex for bytes, decimal strings for uint64. */
export interface VectorInputs {
  readonly deviceId: string;
  readonly instance: 'device';
  readonly hubId: string;
  /** 32-byte Ed25519 seeds (RFC 8032 secret keys). */
  readonly deviceKeySeed: string;
  readonly ihKeySeed: string;
  /** The AWDT's nonce for the valid request, and for the malformed one. */
  readonly nonce: string;
  readonly malformedNonce: string;
  readonly uptimeMs: string;
  readonly runtime: {
    readonly bootCount: string;
    readonly lastResetReason: keyof typeof ResetReason;
    readonly firmwareVersion: string;
    readonly manifestDigest: string;
    readonly hypervisorImageDigest: string;
  };
  readonly ticket: { readonly deferralMs: number; readonly issuedAtMs: string };
  readonly update: {
    readonly version: string;
    readonly imageDigest: string;
    readonly fetchTopic: string;
    readonly sizeBytes: string;
    readonly releaseVersion: string;
  };
}

export interface SignedVector {
  /** The serialized inner message (TicketRequest or TicketReply). */
  readonly payload: string;
  readonly context: SignatureContext;
  /** utf8(context) || 0x00 || payload: exactly what the Ed25519 signature covers. */
  readonly signedBytes: string;
  readonly signature: string;
  readonly signerKeyId: string;
  /** The serialized SignedEnvelope: the MQTT message body. */
  readonly envelope: string;
}

export interface TicketVectors {
  readonly comment: string;
  readonly inputs: VectorInputs;
  readonly keys: {
    readonly device: { readonly publicKey: string; readonly keyId: string };
    readonly ih: { readonly publicKey: string; readonly keyId: string };
  };
  readonly mqtt: {
    readonly requestTopic: string;
    readonly replyTopic: string;
    readonly qos: 1;
    readonly retain: false;
    /** MQTT 5 Message Expiry Interval of the ticket reply: max(1, floor(deferral_ms / 1000)). */
    readonly ticketExpirySeconds: number;
  };
  /** A valid request for the `device` instance, signed with K_I. */
  readonly request: SignedVector;
  /** The IH's ticket for it. */
  readonly ticketReply: SignedVector;
  /** The IH's UPDATE_REQUIRED answer to the same request (another policy). */
  readonly updateRequiredReply: SignedVector;
  /** An authenticated request without runtime.device.manifest_digest, and the WITHHELD MALFORMED answer. */
  readonly malformedRequest: SignedVector;
  readonly malformedReply: SignedVector;
}

const label = (text: string): Uint8Array => cryptoBackend('node').sha512(new TextEncoder().encode(text));
const counting = (from: number): string => hex(Uint8Array.from({ length: 32 }, (_, i) => from + i));

/** The inputs committed in ticket-v1.json. */
export const DEFAULT_INPUTS: VectorInputs = {
  deviceId: 'board-0042',
  instance: 'device',
  hubId: 'ih-1',
  deviceKeySeed: counting(0x00),
  ihKeySeed: counting(0x20),
  nonce: counting(0xc0),
  malformedNonce: counting(0xe0),
  uptimeMs: '86400000',
  runtime: {
    bootCount: '17',
    lastResetReason: 'TICKET_TIMEOUT',
    firmwareVersion: '1.4.2',
    manifestDigest: hex(label('dominion test vector: manifest 1.4.2')),
    hypervisorImageDigest: hex(label('dominion test vector: hypervisor 1.4.2')),
  },
  ticket: { deferralMs: 30_000, issuedAtMs: '1764028800000' },
  update: {
    version: '1.5.0',
    imageDigest: hex(label('dominion test vector: firmware 1.5.0')),
    fetchTopic: 'dominion/v1/hub/ih-1/request',
    sizeBytes: '1048576',
    releaseVersion: '15',
  },
};

/** The RuntimeInfo of the vectors' requests; `withManifest: false` leaves manifest_digest empty. */
export function vectorRuntime(inputs: VectorInputs, withManifest = true): MessageInitShape<typeof RuntimeInfoSchema> {
  const r = inputs.runtime;
  return {
    report: {
      case: 'device',
      value: {
        bootCount: BigInt(r.bootCount),
        lastResetReason: ResetReason[r.lastResetReason],
        firmwareVersion: r.firmwareVersion,
        manifestDigest: withManifest ? fromHex(r.manifestDigest) : new Uint8Array(0),
        hypervisorImageDigest: fromHex(r.hypervisorImageDigest),
      },
    },
  };
}

/** The detail a hub puts in WITHHELD MALFORMED: `<first bad field>: <problem>` (proto/validate.ts). */
export const MALFORMED_DETAIL = 'runtime.device.manifest_digest: must be set';

export function buildVectors(inputs: VectorInputs, backendName: CryptoBackendName = 'node'): TicketVectors {
  const backend = cryptoBackend(backendName);
  const device = backend.signer(fromHex(inputs.deviceKeySeed));
  const ih = backend.signer(fromHex(inputs.ihKeySeed));
  const uptimeMs = Number(inputs.uptimeMs);
  const awdt = (nonce: string): AwdtCore =>
    new AwdtCore({
      deviceId: inputs.deviceId,
      instance: inputs.instance,
      signer: device,
      hub: backend.verifier(ih.publicKey),
      maxDeferralMs: inputs.ticket.deferralMs,
      nonce: () => fromHex(nonce),
    });

  const request = awdt(inputs.nonce).request(create(RuntimeInfoSchema, vectorRuntime(inputs)), uptimeMs);
  const malformedRequest = awdt(inputs.malformedNonce).request(create(RuntimeInfoSchema, vectorRuntime(inputs, false)), uptimeMs);

  const reply = (nonce: string, outcome: TicketReply['outcome']): Uint8Array => {
    const msg = create(TicketReplySchema, { deviceId: inputs.deviceId, instance: inputs.instance, nonce: fromHex(nonce), outcome });
    return seal(ih, CONTEXTS.ticketReply, codecs.ticketReply.encode(msg));
  };
  const nonce = fromHex(inputs.nonce);
  const ticketReply = reply(inputs.nonce, {
    case: 'ticket',
    value: create(DeferralTicketSchema, {
      deviceId: inputs.deviceId,
      instance: inputs.instance,
      nonce,
      deferralMs: inputs.ticket.deferralMs,
      issuedAtMs: BigInt(inputs.ticket.issuedAtMs),
    }),
  });
  const updateRequiredReply = reply(inputs.nonce, {
    case: 'updateRequired',
    value: create(UpdateRequiredSchema, {
      domain: inputs.instance,
      version: inputs.update.version,
      imageDigest: fromHex(inputs.update.imageDigest),
      fetchTopic: inputs.update.fetchTopic,
      sizeBytes: BigInt(inputs.update.sizeBytes),
      releaseVersion: BigInt(inputs.update.releaseVersion),
    }),
  });
  const malformedReply = reply(inputs.malformedNonce, {
    case: 'withheld',
    value: create(WithheldSchema, { reason: WithholdReason.MALFORMED, detail: MALFORMED_DETAIL }),
  });

  return {
    comment:
      'Golden vectors of the dominion.v1 ticket exchange (docs/PROTOCOL.md). Bytes are lower-case hex, uint64 values decimal strings. ' +
      'Regenerate with: node --import tsx test/vectors/generate.ts',
    inputs,
    keys: {
      device: { publicKey: hex(device.publicKey), keyId: hex(device.keyId) },
      ih: { publicKey: hex(ih.publicKey), keyId: hex(ih.keyId) },
    },
    mqtt: {
      requestTopic: topics.hubRequest(inputs.hubId, inputs.deviceId),
      replyTopic: topics.reply(inputs.deviceId, inputs.instance),
      qos: 1,
      retain: false,
      ticketExpirySeconds: Math.max(1, Math.floor(inputs.ticket.deferralMs / 1000)),
    },
    request: describe(request, CONTEXTS.ticketRequest),
    ticketReply: describe(ticketReply, CONTEXTS.ticketReply),
    updateRequiredReply: describe(updateRequiredReply, CONTEXTS.ticketReply),
    malformedRequest: describe(malformedRequest, CONTEXTS.ticketRequest),
    malformedReply: describe(malformedReply, CONTEXTS.ticketReply),
  };
}

function describe(envelopeBytes: Uint8Array, context: SignatureContext): SignedVector {
  const env = codecs.signedEnvelope.decode(envelopeBytes);
  return {
    payload: hex(env.payload),
    context,
    signedBytes: hex(signedBytes(context, env.payload)),
    signature: hex(env.signature),
    signerKeyId: hex(env.signerKeyId),
    envelope: hex(envelopeBytes),
  };
}
