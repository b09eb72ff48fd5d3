/**
 * The first two checks of every request a hub decides on (docs/PROTOCOL.md §3.5, §8 steps 1–2),
 * whatever the exchange: open the envelope in the one context this exchange expects, with an
 * enrolled device key, and only then decode the payload (bounded, not yet validated: an authenticated
 * request that fails validation is answered MALFORMED by its decision). Binding the request to its
 * signer's device and instance is each decision's own step, since the exchanges bind differently.
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { SignatureContext } from '../crypto/index.ts';
import { open, type TicketErrorCode } from '../tickets/index.ts';
import { tryDecodeBounded } from '../../proto/index.ts';
import type { HubView } from './effects.ts';
import type { RefusalReason } from './reasons.ts';
import type { EnrolledKey } from './registry.ts';

export type Authenticated<T> =
  | { readonly ok: true; readonly signer: EnrolledKey; readonly message: T }
  | { readonly ok: false; readonly reason: RefusalReason; readonly detail: string };

/** Opens and decodes one request; never throws for bad input (the view may throw; callers catch). */
export function authenticate<Desc extends DescMessage>(
  bytes: Uint8Array,
  context: SignatureContext,
  schema: Desc,
  maxPayloadBytes: number,
  view: Pick<HubView, 'keyById'>,
): Authenticated<MessageShape<Desc>> {
  let signer: EnrolledKey | undefined;
  const opened = open(bytes, context, (keyId) => {
    signer = view.keyById(keyId);
    return signer?.verifier;
  });
  if (!opened.ok) return { ok: false, reason: refusalOf(opened.error.code), detail: opened.error.message };
  if (signer === undefined) return { ok: false, reason: 'unknown-signer', detail: 'signer vanished during lookup' };
  const decoded = tryDecodeBounded(schema, opened.payload, maxPayloadBytes);
  if (!decoded.ok) return { ok: false, reason: 'malformed-payload', detail: decoded.error.detail };
  return { ok: true, signer, message: decoded.message };
}

function refusalOf(code: TicketErrorCode): RefusalReason {
  switch (code) {
    case 'malformed-envelope':
    case 'wrong-context':
    case 'unknown-signer':
    case 'bad-signature':
      return code;
    default:
      return 'internal-error'; // open() reports only the four above
  }
}
