/**
 * The dominion.v1 messages as tables for the table-driven codec (lite-wire.ts), and their bounded,
 * validating codecs: the same frame limits (`MAX_WIRE_BYTES`) and validators (validate.ts) as the
 * generated codecs of codecs.ts, so either refuses exactly what the other does.
 *
 * The device domains (`sw`, and the hypervisor's AWDTs through actors/tickets) use these; the hubs
 * may use either. Each table mirrors one message of proto/dominion/v1/*.proto field for field:
 * test/proto/lite-messages.test.ts compares them with the generated descriptors, so a .proto edit
 * without the matching edit here fails the tests. (The channel messages have their own, smaller
 * codec: lite.ts.)
 */
import type { BootImage, BootRequest, BootTicket } from './gen/dominion/v1/boot_pb.ts';
import type { SignedEnvelope } from './gen/dominion/v1/envelope_pb.ts';
import type { ImageChunk, ImageRequest } from './gen/dominion/v1/image_pb.ts';
import type { ActorReport, DeviceState, DomainReport, RuntimeInfo, SlotReport } from './gen/dominion/v1/runtime_info_pb.ts';
import type { ServiceMessage, ServiceRecord, ServiceSeal } from './gen/dominion/v1/service_data_pb.ts';
import type { DeferralTicket, TicketReply, TicketRequest, UpdateRequired, Withheld } from './gen/dominion/v1/ticket_pb.ts';
import { MAX_WIRE_BYTES } from './limits.ts';
import { BOOL, BYTES, ENUM, liteCodec, liteMessage, STRING, UINT32, UINT64, type LiteMessage, type LiteProtoCodec } from './lite-wire.ts';
import {
  validateBootRequest,
  validateBootTicket,
  validateImageChunk,
  validateImageRequest,
  validateSignedEnvelope,
  validateTicketReply,
  validateTicketRequest,
} from './validate.ts';

// Every table is made by a pure-annotated call, so a bundle carries only the tables it uses.

// runtime_info.proto
export const ActorReportLite = /* @__PURE__ */ liteMessage<ActorReport>('dominion.v1.ActorReport', [
  [1, 'name', STRING],
  [2, 'codeDigest', BYTES],
  [3, 'restarts', UINT32],
  [4, 'mailboxCapacity', UINT32],
  [5, 'mailboxHighWater', UINT32],
  [6, 'mailboxDrops', UINT64],
]);
export const SlotReportLite = /* @__PURE__ */ liteMessage<SlotReport>('dominion.v1.SlotReport', [
  [1, 'label', STRING],
  [2, 'version', UINT64],
  [3, 'slot', STRING],
  [4, 'update', ENUM],
  [5, 'updateVersion', UINT64],
  [6, 'detail', STRING],
]);
export const DomainReportLite = /* @__PURE__ */ liteMessage<DomainReport>('dominion.v1.DomainReport', [
  [1, 'actors', ActorReportLite, true],
  [2, 'restarts', UINT32],
  [3, 'memoryBytes', UINT64],
  [4, 'imageDigest', BYTES],
  [5, 'boots', UINT32],
  [6, 'slot', SlotReportLite],
]);
export const DeviceStateLite = /* @__PURE__ */ liteMessage<DeviceState>('dominion.v1.DeviceState', [
  [1, 'bootCount', UINT64],
  [2, 'lastResetReason', ENUM],
  [3, 'firmwareVersion', STRING],
  [4, 'manifestDigest', BYTES],
  [5, 'hypervisorImageDigest', BYTES],
  [6, 'slots', SlotReportLite, true],
  [7, 'recovery', BOOL],
]);
export const RuntimeInfoLite = /* @__PURE__ */ liteMessage<RuntimeInfo>('dominion.v1.RuntimeInfo', [
  [1, 'device', DeviceStateLite, 'report'],
  [2, 'domain', DomainReportLite, 'report'],
]);

// ticket.proto
export const TicketRequestLite = /* @__PURE__ */ liteMessage<TicketRequest>('dominion.v1.TicketRequest', [
  [1, 'deviceId', STRING],
  [2, 'instance', STRING],
  [3, 'nonce', BYTES],
  [4, 'runtime', RuntimeInfoLite],
  [5, 'uptimeMs', UINT64],
]);
export const DeferralTicketLite = /* @__PURE__ */ liteMessage<DeferralTicket>('dominion.v1.DeferralTicket', [
  [1, 'deviceId', STRING],
  [2, 'instance', STRING],
  [3, 'nonce', BYTES],
  [4, 'deferralMs', UINT32],
  [5, 'issuedAtMs', UINT64],
]);
export const WithheldLite = /* @__PURE__ */ liteMessage<Withheld>('dominion.v1.Withheld', [
  [1, 'reason', ENUM],
  [2, 'detail', STRING],
]);
export const UpdateRequiredLite = /* @__PURE__ */ liteMessage<UpdateRequired>('dominion.v1.UpdateRequired', [
  [1, 'domain', STRING],
  [2, 'version', STRING],
  [3, 'imageDigest', BYTES],
  [4, 'fetchTopic', STRING],
  [5, 'sizeBytes', UINT64],
  [6, 'releaseVersion', UINT64],
]);
export const TicketReplyLite = /* @__PURE__ */ liteMessage<TicketReply>('dominion.v1.TicketReply', [
  [1, 'deviceId', STRING],
  [2, 'instance', STRING],
  [3, 'nonce', BYTES],
  [4, 'ticket', DeferralTicketLite, 'outcome'],
  [5, 'withheld', WithheldLite, 'outcome'],
  [6, 'updateRequired', UpdateRequiredLite, 'outcome'],
]);

// envelope.proto
export const SignedEnvelopeLite = /* @__PURE__ */ liteMessage<SignedEnvelope>('dominion.v1.SignedEnvelope', [
  [1, 'payload', BYTES],
  [2, 'signature', BYTES],
  [3, 'signerKeyId', BYTES],
  [4, 'context', STRING],
]);

// boot.proto
export const BootImageLite = /* @__PURE__ */ liteMessage<BootImage>('dominion.v1.BootImage', [
  [1, 'label', STRING],
  [2, 'version', UINT64],
  [3, 'digest', BYTES],
]);
export const BootRequestLite = /* @__PURE__ */ liteMessage<BootRequest>('dominion.v1.BootRequest', [
  [1, 'deviceId', STRING],
  [2, 'bootNonce', BYTES],
  [3, 'manifestDigest', BYTES],
  [4, 'firmwareVersion', STRING],
  [5, 'bootCount', UINT64],
  [6, 'images', BootImageLite, true],
]);
export const BootTicketLite = /* @__PURE__ */ liteMessage<BootTicket>('dominion.v1.BootTicket', [
  [1, 'deviceId', STRING],
  [2, 'bootNonce', BYTES],
  [3, 'manifestDigest', BYTES],
  [4, 'initialTimeoutMs', UINT32],
  [5, 'imagesDigest', BYTES],
  [6, 'withheld', WithheldLite],
]);

// image.proto
export const ImageRequestLite = /* @__PURE__ */ liteMessage<ImageRequest>('dominion.v1.ImageRequest', [
  [1, 'deviceId', STRING],
  [2, 'instance', STRING],
  [3, 'label', STRING],
  [4, 'version', UINT64],
  [5, 'offset', UINT64],
  [6, 'maxBytes', UINT32],
  [7, 'nonce', BYTES],
  [8, 'board', STRING],
]);
export const ImageChunkLite = /* @__PURE__ */ liteMessage<ImageChunk>('dominion.v1.ImageChunk', [
  [1, 'deviceId', STRING],
  [2, 'instance', STRING],
  [3, 'nonce', BYTES],
  [4, 'label', STRING],
  [5, 'version', UINT64],
  [6, 'offset', UINT64],
  [7, 'totalBytes', UINT64],
  [8, 'data', BYTES],
  [9, 'manifest', BYTES],
  [10, 'manifestSignature', BYTES],
  [11, 'refused', WithheldLite],
]);

// service_data.proto
export const ServiceRecordLite = /* @__PURE__ */ liteMessage<ServiceRecord>('dominion.v1.ServiceRecord', [
  [1, 'boot', UINT64],
  [2, 'seq', UINT64],
  [3, 'payload', BYTES],
]);
export const ServiceSealLite = /* @__PURE__ */ liteMessage<ServiceSeal>('dominion.v1.ServiceSeal', [
  [1, 'deviceId', STRING],
  [2, 'service', STRING],
  [3, 'stream', STRING],
  [4, 'boot', UINT64],
  [5, 'firstSeq', UINT64],
  [6, 'recordDigests', BYTES],
]);
export const ServiceMessageLite = /* @__PURE__ */ liteMessage<ServiceMessage>('dominion.v1.ServiceMessage', [
  [1, 'record', ServiceRecordLite, 'kind'],
  [2, 'seal', SignedEnvelopeLite, 'kind'],
]);

/** Every top-level message's table, for tests and tools (a bundle that uses this list carries every table). */
export const LITE_MESSAGES: readonly LiteMessage[] = [
  SignedEnvelopeLite,
  TicketRequestLite,
  TicketReplyLite,
  BootRequestLite,
  BootTicketLite,
  ImageRequestLite,
  ImageChunkLite,
  ServiceMessageLite,
  ServiceSealLite,
];

// The codecs, one constant each as in codecs.ts: made by a pure-annotated call whose only argument
// is a closure, so a bundler drops those nobody uses (MAX_WIRE_BYTES.x would otherwise keep them).
const make = <T>(build: () => T): T => build();

export const signedEnvelopeLiteCodec: LiteProtoCodec<SignedEnvelope> = /* @__PURE__ */ make(() =>
  liteCodec(SignedEnvelopeLite, MAX_WIRE_BYTES.signedEnvelope, { validate: (env) => validateSignedEnvelope(env) }),
);
export const ticketRequestLiteCodec: LiteProtoCodec<TicketRequest> = /* @__PURE__ */ make(() =>
  liteCodec(TicketRequestLite, MAX_WIRE_BYTES.ticketRequest, { validate: validateTicketRequest }),
);
export const ticketReplyLiteCodec: LiteProtoCodec<TicketReply> = /* @__PURE__ */ make(() =>
  liteCodec(TicketReplyLite, MAX_WIRE_BYTES.ticketReply, { validate: validateTicketReply }),
);
export const bootRequestLiteCodec: LiteProtoCodec<BootRequest> = /* @__PURE__ */ make(() =>
  liteCodec(BootRequestLite, MAX_WIRE_BYTES.bootRequest, { validate: validateBootRequest }),
);
export const bootTicketLiteCodec: LiteProtoCodec<BootTicket> = /* @__PURE__ */ make(() =>
  liteCodec(BootTicketLite, MAX_WIRE_BYTES.bootTicket, { validate: validateBootTicket }),
);
export const imageRequestLiteCodec: LiteProtoCodec<ImageRequest> = /* @__PURE__ */ make(() =>
  liteCodec(ImageRequestLite, MAX_WIRE_BYTES.imageRequest, { validate: validateImageRequest }),
);
export const imageChunkLiteCodec: LiteProtoCodec<ImageChunk> = /* @__PURE__ */ make(() =>
  liteCodec(ImageChunkLite, MAX_WIRE_BYTES.imageChunk, { validate: validateImageChunk }),
);
export const serviceMessageLiteCodec: LiteProtoCodec<ServiceMessage> = /* @__PURE__ */ make(() =>
  liteCodec(ServiceMessageLite, MAX_WIRE_BYTES.serviceMessage),
);
export const serviceSealLiteCodec: LiteProtoCodec<ServiceSeal> = /* @__PURE__ */ make(() =>
  liteCodec(ServiceSealLite, MAX_WIRE_BYTES.serviceSeal),
);
