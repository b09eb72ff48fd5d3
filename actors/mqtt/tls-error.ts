/**
 * A TLS connection to the broker that failed its handshake (docs/PROTOCOL.md §6.6): an untrusted or
 * expired certificate, one for another host, or a peer that does not speak TLS. Retrying the same
 * connection cannot fix any of these, so they are told apart from a broker that is merely down:
 * `awaitConnected` and `probeBroker` reject with this error, and long-lived owners (hub, mm) count
 * and report it.
 */

export type MqttTlsReason = 'untrusted' | 'host-mismatch' | 'expired' | 'handshake';

export class MqttTlsError extends Error {
  override readonly name = 'MqttTlsError';
  constructor(
    /** `host:port` of the broker. */
    readonly broker: string,
    readonly reason: MqttTlsReason,
    /** Node's / OpenSSL's error code, e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`. */
    readonly code: string,
    detail: string,
  ) {
    super(`TLS to the MQTT broker ${broker} failed: ${detail} (${code})`);
  }
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'CERT_REVOKED',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/**
 * What `err`, raised by a TLS socket to `broker` before its handshake completed, says as a TLS
 * failure, or undefined. Plain network errors (refused, unreachable, reset: they carry a `syscall`) are not: the
 * broker may just be down. A close before the handshake without a syscall is a peer that does not
 * speak TLS on that port.
 */
export function classifyTlsFailure(err: unknown, broker: string, servername: string): MqttTlsError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; syscall?: unknown; message?: unknown };
  if (e.syscall !== undefined) return undefined;
  const code = typeof e.code === 'string' ? e.code : 'ERR_TLS_HANDSHAKE';
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (UNTRUSTED.has(code)) return new MqttTlsError(broker, 'untrusted', code, "the broker's certificate is not signed by the pinned CA");
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return new MqttTlsError(broker, 'host-mismatch', code, `the broker's certificate does not name ${servername}`);
  if (EXPIRED.has(code)) return new MqttTlsError(broker, 'expired', code, `the broker's certificate is not valid now`);
  return new MqttTlsError(broker, 'handshake', code, `handshake failed (is it a TLS listener?): ${message.slice(0, 160)}`);
}
