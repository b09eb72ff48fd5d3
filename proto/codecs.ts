/**
 * Ready-made codecs for the top-level dominion.v1 messages: frame limit from `MAX_WIRE_BYTES`, and the
 * message's semantic validator run on every decode (a failing message decodes to ProtoDecodeError
 * with code `invalid` and the problems attached).
 *
 * The envelope codec checks the envelope's shape only; which context it must carry, and whether the
 * signature verifies, is for the receiver (and its crypto module) to decide.
 *
 * lite-messages.ts has the same codecs (names, limits, validators, verdicts) without the protobuf
 * runtime, for the device domains; the hubs decode with these and encode their replies with those
 * (the same bytes; the table-driven writer allocates less, docs/ARCHITECTURE.md §7).
 */
import { BootRequestSchema, BootTicketSchema } from './gen/dominion/v1/boot_pb.ts';
import { SignedEnvelopeSchema } from './gen/dominion/v1/envelope_pb.ts';
import { ImageChunkSchema, ImageRequestSchema } from './gen/dominion/v1/image_pb.ts';
import { ServiceMessageSchema, ServiceSealSchema } from './gen/dominion/v1/service_data_pb.ts';
import { TicketReplySchema, TicketRequestSchema } from './gen/dominion/v1/ticket_pb.ts';
import { protoCodec } from './codec.ts';
import { MAX_WIRE_BYTES } from './limits.ts';
import {
  validateBootRequest,
  validateBootTicket,
  validateImageChunk,
  validateImageRequest,
  validateSignedEnvelope,
  validateTicketReply,
  validateTicketRequest,
} from './validate.ts';

// One constant per message, so code that decodes one kind (an AWDT: envelopes and replies) does not
// carry every other schema and validator into its bundle; `codecs` groups them for everyone else.
// Each is made by a pure-annotated call whose only argument is a closure: a bundler may then drop a
// codec nobody uses (esbuild keeps a call whose arguments read properties, like MAX_WIRE_BYTES.x).
const make = <T>(build: () => T): T => build();

export const signedEnvelopeCodec = /* @__PURE__ */ make(() =>
  protoCodec(SignedEnvelopeSchema, MAX_WIRE_BYTES.signedEnvelope, { validate: (env) => validateSignedEnvelope(env) }),
);
export const ticketRequestCodec = /* @__PURE__ */ make(() =>
  protoCodec(TicketRequestSchema, MAX_WIRE_BYTES.ticketRequest, { validate: validateTicketRequest }),
);
export const ticketReplyCodec = /* @__PURE__ */ make(() =>
  protoCodec(TicketReplySchema, MAX_WIRE_BYTES.ticketReply, { validate: validateTicketReply }),
);
export const bootRequestCodec = /* @__PURE__ */ make(() =>
  protoCodec(BootRequestSchema, MAX_WIRE_BYTES.bootRequest, { validate: validateBootRequest }),
);
export const bootTicketCodec = /* @__PURE__ */ make(() =>
  protoCodec(BootTicketSchema, MAX_WIRE_BYTES.bootTicket, { validate: validateBootTicket }),
);
export const imageRequestCodec = /* @__PURE__ */ make(() =>
  protoCodec(ImageRequestSchema, MAX_WIRE_BYTES.imageRequest, { validate: validateImageRequest }),
);
export const imageChunkCodec = /* @__PURE__ */ make(() =>
  protoCodec(ImageChunkSchema, MAX_WIRE_BYTES.imageChunk, { validate: validateImageChunk }),
);

export const serviceMessageCodec = /* @__PURE__ */ make(() => protoCodec(ServiceMessageSchema, MAX_WIRE_BYTES.serviceMessage));
export const serviceSealCodec = /* @__PURE__ */ make(() => protoCodec(ServiceSealSchema, MAX_WIRE_BYTES.serviceSeal));

export const codecs = {
  signedEnvelope: signedEnvelopeCodec,
  ticketRequest: ticketRequestCodec,
  ticketReply: ticketReplyCodec,
  bootRequest: bootRequestCodec,
  bootTicket: bootTicketCodec,
  imageRequest: imageRequestCodec,
  imageChunk: imageChunkCodec,
  serviceMessage: serviceMessageCodec,
  serviceSeal: serviceSealCodec,
} as const;
