/**
 * Ready-made codecs for the top-level dominion.v1 messages: frame limit from `MAX_WIRE_BYTES`, and the
 * message's semantic validator run on every decode (a failing message decodes to ProtoDecodeError
 * with code `invalid` and the problems attached).
 *
 * The envelope codec checks the envelope's shape only; which context it must carry, and whether the
 * signature verifies, is for the receiver (and its crypto module) to decide.
 */
import { BootRequestSchema, BootTicketSchema } from './gen/dominion/v1/boot_pb.ts';
import { SignedEnvelopeSchema } from './gen/dominion/v1/envelope_pb.ts';
import { TicketReplySchema, TicketRequestSchema } from './gen/dominion/v1/ticket_pb.ts';
import { protoCodec } from './codec.ts';
import { MAX_WIRE_BYTES } from './limits.ts';
import {
  validateBootRequest,
  validateBootTicket,
  validateSignedEnvelope,
  validateTicketReply,
  validateTicketRequest,
} from './validate.ts';

export const codecs = {
  signedEnvelope: protoCodec(SignedEnvelopeSchema, MAX_WIRE_BYTES.signedEnvelope, {
    validate: (env) => validateSignedEnvelope(env),
  }),
  ticketRequest: protoCodec(TicketRequestSchema, MAX_WIRE_BYTES.ticketRequest, { validate: validateTicketRequest }),
  ticketReply: protoCodec(TicketReplySchema, MAX_WIRE_BYTES.ticketReply, { validate: validateTicketReply }),
  bootRequest: protoCodec(BootRequestSchema, MAX_WIRE_BYTES.bootRequest, { validate: validateBootRequest }),
  bootTicket: protoCodec(BootTicketSchema, MAX_WIRE_BYTES.bootTicket, { validate: validateBootTicket }),
} as const;
