/**
 * Reads the hub's replies as the simulated devices' AWDTs would: every reply is decoded and matched
 * to its device's outstanding nonce; one in `verifyEvery` is checked in full as AwdtCore.reply does
 * (signature with the pinned hub key, context, device, instance), the rest are decoded only, because
 * the simulator's CPU is shared with the hub it measures.
 */
import { CONTEXTS, type Verifier } from '../../actors/crypto/index.ts';
import { open, pinned, type VerifierLookup } from '../../actors/tickets/index.ts';
import { signedEnvelopeLiteCodec, ticketReplyLiteCodec, TOPIC_PREFIX } from '../../proto/index.ts';
import { fleetIndexOf } from './fleet-keys.ts';

export type ReadReply =
  | {
      readonly kind: 'ticket';
      readonly device: number;
      readonly nonce: Uint8Array;
      readonly deferralMs: number;
      readonly verified: boolean;
    }
  | { readonly kind: 'refused'; readonly device: number; readonly nonce: Uint8Array; readonly why: string; readonly verified: boolean }
  | { readonly kind: 'bad'; readonly why: string };

const REPLY_PREFIX = `${TOPIC_PREFIX}/device/`;
const REPLY_SUFFIX = '/reply/device';

export class ReplyReader {
  private readonly lookup: VerifierLookup;
  private seen = 0;

  constructor(
    hub: Verifier,
    private readonly verifyEvery: number,
  ) {
    if (!Number.isInteger(verifyEvery) || verifyEvery < 1) throw new RangeError('ReplyReader: verifyEvery must be an integer >= 1');
    this.lookup = pinned(hub);
  }

  read(topic: string, payload: Uint8Array): ReadReply {
    if (!topic.startsWith(REPLY_PREFIX) || !topic.endsWith(REPLY_SUFFIX)) return { kind: 'bad', why: 'not a device reply topic' };
    const deviceId = topic.slice(REPLY_PREFIX.length, topic.length - REPLY_SUFFIX.length);
    const device = fleetIndexOf(deviceId);
    if (device < 0) return { kind: 'bad', why: 'not a simulated device' };
    const verify = this.seen++ % this.verifyEvery === 0;
    let body: Uint8Array;
    if (verify) {
      const opened = open(payload, CONTEXTS.ticketReply, this.lookup);
      if (!opened.ok) return { kind: 'bad', why: `verification failed: ${opened.error.code}` };
      body = opened.payload;
    } else {
      const env = signedEnvelopeLiteCodec.tryDecode(payload);
      if (!env.ok) return { kind: 'bad', why: 'malformed envelope' };
      body = env.message.payload;
    }
    const decoded = ticketReplyLiteCodec.tryDecode(body);
    if (!decoded.ok) return { kind: 'bad', why: 'malformed reply' };
    const reply = decoded.message;
    if (reply.deviceId !== deviceId || reply.instance !== 'device') return { kind: 'bad', why: 'reply for another device or instance' };
    switch (reply.outcome.case) {
      case 'ticket':
        return { kind: 'ticket', device, nonce: reply.nonce, deferralMs: reply.outcome.value.deferralMs, verified: verify };
      case 'withheld':
        return { kind: 'refused', device, nonce: reply.nonce, why: `withheld ${reply.outcome.value.reason}`, verified: verify };
      case 'updateRequired':
        return { kind: 'refused', device, nonce: reply.nonce, why: 'update required', verified: verify };
      default:
        return { kind: 'bad', why: 'reply carries no outcome' };
    }
  }
}
