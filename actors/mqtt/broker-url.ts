/**
 * Broker URLs: which ones dominion accepts and what they name. A file of its own, with no MQTT
 * client behind it, so that checking a provisioning file does not load MQTT.js.
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
}

const DEFAULT_PORT = 1883;

/** Host and port of an `mqtt://host[:port]` or `tcp://host[:port]` URL; throws MqttUrlError otherwise. */
export function parseBrokerUrl(url: string): BrokerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MqttUrlError(String(url), 'not a URL');
  }
  if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'tcp:') {
    throw new MqttUrlError(url, `scheme ${parsed.protocol} is not supported (use mqtt:// or tcp://)`);
  }
  // URL keeps IPv6 literals bracketed; net.connect wants them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new MqttUrlError(url, 'no host');
  const port = parsed.port === '' ? DEFAULT_PORT : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new MqttUrlError(url, 'bad port');
  if (parsed.username !== '' || parsed.password !== '') {
    // Credentials in a URL end up in logs and process listings; take them as options instead.
    throw new MqttUrlError(url, 'credentials in the URL are not accepted; pass username/password as options');
  }
  return { host, port };
}
