import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ActorReportSchema,
  BootImageSchema,
  BootRequestSchema,
  ImageChunkSchema,
  ImageRequestSchema,
  SlotReportSchema,
  UpdateState,
  BootTicketSchema,
  create,
  decodeBounded,
  DeferralTicketSchema,
  DeviceStateSchema,
  DomainReportSchema,
  equals,
  ResetReason,
  RuntimeInfoSchema,
  SignedEnvelopeSchema,
  TicketReplySchema,
  TicketRequestSchema,
  toBinary,
  UpdateRequiredSchema,
  WithheldSchema,
  WithholdReason,
} from '../../proto/index.ts';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import {
  NONCE,
  SHA512,
  sampleBootRequest,
  sampleBootTicket,
  sampleDeviceRequest,
  sampleEnvelope,
  sampleServiceRequest,
  sampleTicketReply,
  sampleUpdateReply,
  sampleWithheldReply,
} from './fixtures.ts';

function roundTrip<Desc extends DescMessage>(schema: Desc, msg: MessageShape<Desc>): Uint8Array {
  const wire = toBinary(schema, msg);
  const back = decodeBounded(schema, wire, 64 * 1024);
  assert.deepStrictEqual(back, msg);
  assert.ok(equals(schema, back, msg), `${schema.typeName} differs after a round trip`);
  assert.deepStrictEqual(toBinary(schema, back), wire, `${schema.typeName} re-encodes differently`);
  return wire;
}

test('every message type survives encode → decodeBounded unchanged', () => {
  const cases: Array<[DescMessage, MessageShape<DescMessage>]> = [
    [SignedEnvelopeSchema, sampleEnvelope()],
    [TicketRequestSchema, sampleServiceRequest()],
    [TicketRequestSchema, sampleDeviceRequest()],
    [RuntimeInfoSchema, sampleDeviceRequest().runtime!],
    [
      DeviceStateSchema,
      create(DeviceStateSchema, { bootCount: 1n, lastResetReason: ResetReason.OPERATOR, firmwareVersion: '1', manifestDigest: SHA512(1) }),
    ],
    [DomainReportSchema, create(DomainReportSchema, { restarts: 3, memoryBytes: 1n, imageDigest: SHA512(2), boots: 4 })],
    [
      ActorReportSchema,
      create(ActorReportSchema, {
        name: 'a',
        codeDigest: SHA512(3),
        restarts: 1,
        mailboxCapacity: 8,
        mailboxHighWater: 8,
        mailboxDrops: 2n ** 64n - 1n,
      }),
    ],
    [TicketReplySchema, sampleTicketReply()],
    [TicketReplySchema, sampleWithheldReply()],
    [TicketReplySchema, sampleUpdateReply()],
    [DeferralTicketSchema, create(DeferralTicketSchema, { deviceId: 'd', instance: 'mm', nonce: NONCE, deferralMs: 1, issuedAtMs: 2n })],
    [WithheldSchema, create(WithheldSchema, { reason: WithholdReason.MALFORMED, detail: 'ключ не тот' })],
    [
      UpdateRequiredSchema,
      create(UpdateRequiredSchema, {
        domain: 'mm',
        version: '3',
        imageDigest: SHA512(4),
        fetchTopic: 't',
        sizeBytes: 9n,
        releaseVersion: 3n,
      }),
    ],
    [BootRequestSchema, sampleBootRequest()],
    [BootTicketSchema, sampleBootTicket()],
    [BootImageSchema, sampleBootRequest().images[0]!],
    [
      SlotReportSchema,
      create(SlotReportSchema, { label: 'mm', version: 3n, slot: 'b', update: UpdateState.ROLLED_BACK, updateVersion: 4n, detail: 'x' }),
    ],
    [
      ImageRequestSchema,
      create(ImageRequestSchema, {
        deviceId: 'd',
        instance: 'device',
        label: 'sw',
        version: 2n,
        offset: 9n,
        maxBytes: 100,
        nonce: NONCE,
        board: 'sim',
      }),
    ],
    [
      ImageChunkSchema,
      create(ImageChunkSchema, {
        deviceId: 'd',
        instance: 'mm',
        nonce: NONCE,
        label: 'mm',
        version: 2n,
        totalBytes: 3n,
        data: SHA512(1).slice(0, 3),
        manifest: SHA512(2),
        manifestSignature: SHA512(3),
      }),
    ],
  ];
  const covered = new Set<string>();
  for (const [schema, msg] of cases) {
    roundTrip(schema, msg);
    covered.add(schema.typeName);
  }
  // Every message declared in the .proto files is covered.
  const declared = [
    SignedEnvelopeSchema,
    TicketRequestSchema,
    RuntimeInfoSchema,
    DeviceStateSchema,
    DomainReportSchema,
    ActorReportSchema,
    TicketReplySchema,
    DeferralTicketSchema,
    WithheldSchema,
    UpdateRequiredSchema,
    BootRequestSchema,
    BootTicketSchema,
    BootImageSchema,
    SlotReportSchema,
    ImageRequestSchema,
    ImageChunkSchema,
  ].map((s) => s.typeName);
  const files = new Set(
    [SignedEnvelopeSchema, TicketRequestSchema, RuntimeInfoSchema, BootRequestSchema, ImageRequestSchema].map((s) => s.file),
  );
  const all = [...files].flatMap((f) => f.messages.map((m) => m.typeName));
  assert.deepStrictEqual([...all].sort(), [...declared].sort());
  assert.deepStrictEqual([...covered].sort(), [...declared].sort());
});

test('empty (all-default) messages round-trip to zero bytes', () => {
  for (const schema of [TicketRequestSchema, TicketReplySchema, BootRequestSchema, BootTicketSchema, SignedEnvelopeSchema]) {
    const wire = roundTrip(schema, create(schema));
    assert.equal(wire.byteLength, 0);
  }
});

test('a realistic sm ticket request with 3 actors stays small', (t) => {
  const wire = roundTrip(TicketRequestSchema, sampleServiceRequest());
  const digests = 4 * 64;
  t.diagnostic(`TicketRequest (sm:weather, 3 actors, 4 SHA-512 digests): ${wire.byteLength} bytes, of which ${digests} are digests`);
  assert.ok(wire.byteLength >= 120 && wire.byteLength <= 400, `encoded size ${wire.byteLength} outside 120..400`);
  const envelope = toBinary(SignedEnvelopeSchema, sampleEnvelope());
  t.diagnostic(`the same request in a SignedEnvelope: ${envelope.byteLength} bytes`);
});
