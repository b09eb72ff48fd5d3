/**
 * Which exchange a message on the hub's request topic belongs to: ticket, boot or image, told apart
 * by its envelope's signature context. The context is not trusted here — it only picks the decision
 * that then opens the envelope in exactly that context, so a signature made for one kind can still
 * never pass as another. Anything else (not an envelope, an unknown or reply context) goes to the
 * ticket decision, which refuses and audits it as before (`malformed-envelope`, `wrong-context`).
 *
 * This decodes the envelope once more than the decision will (a few microseconds against a signature
 * check of tens): the price of keeping each decision's opening straight-line and self-contained.
 */
import { MAX_WIRE_BYTES, SIGNATURE_CONTEXT, SignedEnvelopeSchema, tryDecodeBounded } from '../../proto/index.ts';
import type { Exchange } from './reasons.ts';

export function exchangeOf(bytes: Uint8Array): Exchange {
  const decoded = tryDecodeBounded(SignedEnvelopeSchema, bytes, MAX_WIRE_BYTES.signedEnvelope, { copyInput: false });
  if (!decoded.ok) return 'ticket';
  switch (decoded.message.context) {
    case SIGNATURE_CONTEXT.bootRequest:
      return 'boot';
    case SIGNATURE_CONTEXT.imageRequest:
      return 'image';
    default:
      return 'ticket';
  }
}
