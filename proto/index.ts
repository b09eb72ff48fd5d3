/**
 * The door to `proto/`: the dominion.v1 wire protocol. Domains import each other's message types
 * only from here (docs/ARCHITECTURE.md §8).
 *
 * - generated schemas and types (`TicketRequestSchema`, `TicketRequest`, enums, …) from proto/gen/;
 * - `create`, `toBinary`, `fromBinary`, `equals`, `clone` from @bufbuild/protobuf, for convenience —
 *   but decode untrusted bytes with `decodeBounded` / a codec, never with bare `fromBinary`;
 * - bounded decoding and channel codecs (codec.ts, codecs.ts);
 * - the same codecs without the protobuf runtime, for the device domains: tables of the messages and
 *   `createLite` / `toBinaryLite` / `fromBinaryLite` / `liteCodec` over them (lite-wire.ts,
 *   lite-messages.ts), wire-identical to the generated code;
 * - instance names (instance.ts), size limits and signature contexts (limits.ts);
 * - semantic validation (validate.ts).
 *
 * 64-bit fields (`boot_count`, `uptime_ms`, `issued_at_ms`, `memory_bytes`, `mailbox_drops`,
 * `size_bytes`) are `bigint` in TypeScript.
 */
export { clone, create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
export type { MessageInitShape, MessageShape } from '@bufbuild/protobuf';

export * from './gen/dominion/v1/envelope_pb.ts';
export * from './gen/dominion/v1/runtime_info_pb.ts';
export * from './gen/dominion/v1/ticket_pb.ts';
export * from './gen/dominion/v1/boot_pb.ts';
export * from './gen/dominion/v1/image_pb.ts';
export * from './gen/dominion/v1/channel_pb.ts';
export * from './gen/dominion/v1/service_data_pb.ts';

export { decodeBounded, protoCodec, ProtoDecodeError, ProtoEncodeError, RECURSION_LIMIT, tryDecodeBounded } from './codec.ts';
export type { BoundedCodec, DecodeOptions, DecodeResult, MessageCodec, ProtoCodec, ProtoDecodeErrorCode } from './codec.ts';
export {
  bootRequestCodec,
  bootTicketCodec,
  codecs,
  imageChunkCodec,
  imageRequestCodec,
  serviceMessageCodec,
  serviceSealCodec,
  signedEnvelopeCodec,
  ticketReplyCodec,
  ticketRequestCodec,
} from './codecs.ts';
export { createLite, fromBinaryLite, liteCodec, liteMessage, toBinaryLite } from './lite-wire.ts';
export type { LiteField, LiteInit, LiteMessage, LiteProtoCodec, LiteScalar } from './lite-wire.ts';
export {
  ActorReportLite,
  BootImageLite,
  BootRequestLite,
  bootRequestLiteCodec,
  BootTicketLite,
  bootTicketLiteCodec,
  DeferralTicketLite,
  DeviceStateLite,
  DomainReportLite,
  ImageChunkLite,
  imageChunkLiteCodec,
  ImageRequestLite,
  imageRequestLiteCodec,
  LITE_MESSAGES,
  RuntimeInfoLite,
  ServiceMessageLite,
  serviceMessageLiteCodec,
  ServiceRecordLite,
  ServiceSealLite,
  serviceSealLiteCodec,
  SignedEnvelopeLite,
  signedEnvelopeLiteCodec,
  SlotReportLite,
  TicketReplyLite,
  ticketReplyLiteCodec,
  TicketRequestLite,
  ticketRequestLiteCodec,
  UpdateRequiredLite,
  WithheldLite,
} from './lite-messages.ts';
export { lanes, laneOf, type Lane } from './lanes.ts';
export { bootImagesBytes, type BootImageLike } from './boot-images.ts';

export {
  InvalidInstanceError,
  instanceProblem,
  isInstance,
  isServiceInstance,
  parseInstance,
  SERVICE_NAME_MAX,
  SERVICE_PREFIX,
  serviceInstance,
  serviceOf,
} from './instance.ts';
export type { Instance, ServiceInstance } from './instance.ts';

export * from './limits.ts';

export {
  problemsOf,
  ProtoValidationError,
  requireValid,
  validateBootRequest,
  validateBootTicket,
  validateImageChunk,
  validateImageRequest,
  validateSignedEnvelope,
  validateTicketReply,
  validateTicketRequest,
} from './validate.ts';
export type { DominionMessage, ValidationProblem } from './validate.ts';
export { TOPIC_PREFIX, TopicError, deviceOfRequestTopic, instanceOfReplyTopic, topics } from './topics.ts';
export {
  lite,
  SERVICE_INBOUND_STREAM,
  type LiteCodec,
  type ProxyEnvelopeLite,
  type ProxyRequestLite,
  type ServiceFrameLite,
  type ServiceRefusedLite,
  type ServiceResumeLite,
  type BootGrantedLite,
} from './lite.ts';
export { HYPERVISOR_MM, serviceChannel, SW_HYPERVISOR, type ChannelContract } from './channels.ts';
