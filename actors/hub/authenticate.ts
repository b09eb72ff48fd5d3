/**
 * The first two checks of every request a hub decides on (docs/PROTOCOL.md §3.5, §8 steps 1–2),
 * whatever the exchange: open the envelope in the one context this exchange expects, with an
 * enrolled device key, and only then decode the payload (bounded, not yet validated: an authenticated
 * request that fails validation is answered MALFORMED by its decision) — and, for the exchanges an
 * instance's key signs (tickets, images), binding the request to that signer (`bindToSigner`).
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { SignatureContext } from '../crypto/index.ts';
import { open, type TicketErrorCode } from '../tickets/index.ts';
import { NONCE_BYTES, tryDecodeBounded, type Instance } from '../../proto/index.ts';
import type { HubView } from './effects.ts';
import type { RefusalReason } from './reasons.ts';
import type { EnrolledKey } from './registry.ts';

export type Authenticated<T> =
  | { readonly ok: true; readonly signer: EnrolledKey; readonly message: T }
  | { readonly ok: false; readonly reason: RefusalReason; readonly detail: string };

/**
 * Opens and decodes one request; never throws for bad input (the view may throw; callers catch).
 * `topicDevice`: the device id of the request topic it arrived on (docs/PROTOCOL.md §6.1); a request
 * signed by another device's key is refused (`topic-device-mismatch`): the broker lets each device
 * publish only on its own request topic (docs/ARCHITECTURE.md §7.1), so such a request was relayed by
 * someone else. Undefined where there is no topic (an in-process link).
 */
export function authenticate<Desc extends DescMessage>(
  bytes: Uint8Array,
  context: SignatureContext,
  schema: Desc,
  maxPayloadBytes: number,
  view: Pick<HubView, 'keyById'>,
  topicDevice?: string,
): Authenticated<MessageShape<Desc>> {
  let signer: EnrolledKey | undefined;
  const opened = open(bytes, context, (keyId) => {
    signer = view.keyById(keyId);
    return signer?.verifier;
  });
  if (!opened.ok) return { ok: false, reason: refusalOf(opened.error.code), detail: opened.error.message };
  if (signer === undefined) return { ok: false, reason: 'unknown-signer', detail: 'signer vanished during lookup' };
  if (topicDevice !== undefined && topicDevice !== signer.deviceId)
    return {
      ok: false,
      reason: 'topic-device-mismatch',
      detail: `signed by a key of ${signer.deviceId}, arrived on the request topic of ${topicDevice.slice(0, 64)}`,
    };
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

export type Bound =
  | { readonly ok: true; readonly instance: Instance }
  /** `attributable`: the refusal may be audited under the request's device and instance. */
  | { readonly ok: false; readonly reason: RefusalReason; readonly detail: string; readonly attributable: boolean };

/**
 * An authenticated request must name its signer's own device and instance (a key speaks for one
 * instance of one device only) and carry a nonce of the right size. Never throws.
 */
export function bindToSigner(
  request: { readonly deviceId: string; readonly instance: string; readonly nonce: Uint8Array },
  signer: EnrolledKey,
): Bound {
  if (request.deviceId !== signer.deviceId)
    return {
      ok: false,
      reason: 'key-device-mismatch',
      detail: `key enrolled for another device, request names ${request.deviceId.slice(0, 64)}`,
      attributable: false,
    };
  if (request.instance !== signer.instance)
    return {
      ok: false,
      reason: 'key-instance-mismatch',
      detail: `key enrolled for ${signer.instance}, request names ${request.instance.slice(0, 64)}`,
      attributable: true,
    };
  if (request.nonce.length !== NONCE_BYTES)
    return {
      ok: false,
      reason: 'malformed-payload',
      detail: `nonce: must be exactly ${NONCE_BYTES} bytes, got ${request.nonce.length}`,
      attributable: true,
    };
  return { ok: true, instance: signer.instance };
}
