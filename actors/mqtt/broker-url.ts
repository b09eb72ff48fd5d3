/**
 * Broker URLs: which ones dominion accepts and what they name. A file of its own, with no MQTT
 * client behind it, so that checking a provisioning file does not load MQTT.js.
 *
 * `mqtts://` (and its aliases `ssl://`, `tls://`) is MQTT over TLS (docs/PROTOCOL.md §6.6); `mqtt://`
 * and `tcp://` are plain TCP, which the CLIs accept only to a loopback host unless told
 * `--insecure-plaintext` (`plaintextRefusal`).
 */

export class MqttUrlError extends Error {
  override readonly name = 'MqttUrlError';
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(`unusable MQTT broker URL ${JSON.stringify(url.slice(0, 120))}: ${reason}`);
  }
}

export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
  /** True for `mqtts://` (`ssl://`, `tls://`): the connection is TLS, the broker's certificate verified. */
  readonly tls: boolean;
}

const PLAIN_PORT = 1883;
const TLS_PORT = 8883;
const SCHEMES: Readonly<Record<string, boolean>> = { 'mqtt:': false, 'tcp:': false, 'mqtts:': true, 'ssl:': true, 'tls:': true };

/**
 * Host, port and TLS of an `mqtt://`, `tcp://` (plain, default port 1883) or `mqtts://`, `ssl://`,
 * `tls://` (TLS, default port 8883) URL; throws MqttUrlError otherwise.
 */
export function parseBrokerUrl(url: string): BrokerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MqttUrlError(String(url), 'not a URL');
  }
  const tls = SCHEMES[parsed.protocol];
  if (tls === undefined) {
    throw new MqttUrlError(url, `scheme ${parsed.protocol} is not supported (use mqtts:// for TLS, or mqtt:// on loopback)`);
  }
  // URL keeps IPv6 literals bracketed; net.connect wants them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new MqttUrlError(url, 'no host');
  const port = parsed.port === '' ? (tls ? TLS_PORT : PLAIN_PORT) : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new MqttUrlError(url, 'bad port');
  if (parsed.username !== '' || parsed.password !== '') {
    // Credentials in a URL end up in logs and process listings; take them as options instead.
    throw new MqttUrlError(url, 'credentials in the URL are not accepted; pass username/password as options');
  }
  if (parsed.pathname !== '' && parsed.pathname !== '/') throw new MqttUrlError(url, 'a broker URL has no path');
  return { host, port, tls };
}

/** 127.0.0.0/8, ::1 (and its IPv4-mapped forms of 127/8) and `localhost`: traffic that never leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/**
 * Why a CLI refuses `url` (docs/PROTOCOL.md §6.6: TLS wherever MQTT crosses a network), or
 * undefined: a plain URL is refused unless its host is loopback or the operator said
 * `--insecure-plaintext`. Throws MqttUrlError for a URL that is not a broker URL at all.
 */
export function plaintextRefusal(url: string, insecurePlaintext: boolean): string | undefined {
  const address = parseBrokerUrl(url);
  if (address.tls || insecurePlaintext || isLoopbackHost(address.host)) return undefined;
  return (
    `${url} is plain MQTT to ${address.host}, which is not loopback: tickets, releases and service data would cross the network unencrypted. ` +
    `Use mqtts://${address.host.includes(':') ? `[${address.host}]` : address.host}:8883 with the broker's CA pinned ` +
    `(make a TLS broker config with "dominion broker-config --out <dir> --host ${address.host}" and pass --broker-ca <dir>/ca.crt), ` +
    `or give --insecure-plaintext to accept it anyway`
  );
}
