/** Realistic sample messages shared by the proto tests (not a test file itself). */
import {
  create,
  ResetReason,
  WithholdReason,
  SIGNATURE_CONTEXT,
  TicketRequestSchema,
  TicketReplySchema,
  BootRequestSchema,
  BootTicketSchema,
  SignedEnvelopeSchema,
  toBinary,
} from '../../proto/index.ts';
import type { BootRequest, BootTicket, SignedEnvelope, TicketReply, TicketRequest } from '../../proto/index.ts';

/** Deterministic filler bytes (not random: tests must be reproducible). */
export function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const NONCE = bytes(32, 1);
export const SHA512 = (seed: number): Uint8Array => bytes(64, seed);

/** A realistic service-VM request: sm instance, three actors, full SHA-512 digests. */
export function sampleServiceRequest(): TicketRequest {
  return create(TicketRequestSchema, {
    deviceId: 'board-0042',
    instance: 'sm:weather',
    nonce: NONCE,
    runtime: {
      report: {
        case: 'domain',
        value: {
          actors: [
            { name: 'sensor', codeDigest: SHA512(11), restarts: 0, mailboxCapacity: 64, mailboxHighWater: 5, mailboxDrops: 0n },
            { name: 'uplink', codeDigest: SHA512(12), restarts: 1, mailboxCapacity: 32, mailboxHighWater: 31, mailboxDrops: 2n },
            { name: 'store', codeDigest: SHA512(13), restarts: 0, mailboxCapacity: 16, mailboxHighWater: 1, mailboxDrops: 0n },
          ],
          restarts: 1,
          memoryBytes: 48n * 1024n * 1024n,
          imageDigest: SHA512(10),
          boots: 1,
        },
      },
    },
    uptimeMs: 86_400_000n,
  });
}

export function sampleDeviceRequest(): TicketRequest {
  return create(TicketRequestSchema, {
    deviceId: 'board-0042',
    instance: 'device',
    nonce: NONCE,
    runtime: {
      report: {
        case: 'device',
        value: {
          bootCount: 17n,
          lastResetReason: ResetReason.TICKET_TIMEOUT,
          firmwareVersion: '1.4.2',
          manifestDigest: SHA512(20),
          hypervisorImageDigest: SHA512(21),
        },
      },
    },
    uptimeMs: 86_400_000n,
  });
}

export function sampleTicketReply(): TicketReply {
  return create(TicketReplySchema, {
    deviceId: 'board-0042',
    instance: 'sm:weather',
    nonce: NONCE,
    outcome: {
      case: 'ticket',
      value: { deviceId: 'board-0042', instance: 'sm:weather', nonce: NONCE, deferralMs: 30_000, issuedAtMs: 1_764_028_800_123n },
    },
  });
}

export function sampleWithheldReply(): TicketReply {
  return create(TicketReplySchema, {
    deviceId: 'board-0042',
    instance: 'mm',
    nonce: NONCE,
    outcome: { case: 'withheld', value: { reason: WithholdReason.POLICY_FAILED, detail: 'unexpected actor "miner"' } },
  });
}

export function sampleUpdateReply(): TicketReply {
  return create(TicketReplySchema, {
    deviceId: 'board-0042',
    instance: 'sm:weather',
    nonce: NONCE,
    outcome: {
      case: 'updateRequired',
      value: {
        domain: 'sm:weather',
        version: '2.0.1',
        imageDigest: SHA512(30),
        fetchTopic: 'dominion/v1/images/sm-weather/2.0.1',
        sizeBytes: 1_234_567n,
        releaseVersion: 7n,
      },
    },
  });
}

export function sampleBootRequest(): BootRequest {
  return create(BootRequestSchema, {
    deviceId: 'board-0042',
    bootNonce: bytes(32, 40),
    manifestDigest: SHA512(20),
    firmwareVersion: '1.4.2',
    bootCount: 18n,
    images: [
      { label: 'sw', version: 3n, digest: SHA512(21) },
      { label: 'hypervisor', version: 3n, digest: SHA512(22) },
      { label: 'mm', version: 4n, digest: SHA512(23) },
      { label: 'sm:weather', version: 2n, digest: SHA512(24) },
    ],
  });
}

export function sampleBootTicket(): BootTicket {
  return create(BootTicketSchema, {
    deviceId: 'board-0042',
    bootNonce: bytes(32, 40),
    manifestDigest: SHA512(20),
    initialTimeoutMs: 120_000,
    imagesDigest: SHA512(25),
  });
}

export function sampleEnvelope(): SignedEnvelope {
  return create(SignedEnvelopeSchema, {
    payload: toBinary(TicketRequestSchema, sampleServiceRequest()),
    signature: bytes(64, 50),
    signerKeyId: bytes(8, 51),
    context: SIGNATURE_CONTEXT.ticketRequest,
  });
}
