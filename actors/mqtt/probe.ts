/**
 * What the broker can do, found by trying it (docs/ARCHITECTURE.md §7). Aedes 1.x refuses MQTT 5 at
 * CONNACK ("unacceptable protocol version") and grants `$share/...` subscriptions but never delivers
 * to them; Mosquitto does both. Hubs use the answer to pick shared vs plain subscriptions.
 *
 * The shared-subscription check needs no fixed wait: one client subscribes to `$share/<g>/<t>` and to
 * a plain marker topic, then publishes to `<t>` and then to the marker. A broker delivers the two
 * publishes to one session in order, so a marker arriving with nothing before it means the shared
 * subscription got nothing. A second marker round trip guards against a broker that routes shared
 * deliveries a little later than plain ones. The timeout only bounds a broker that answers nothing.
 */
import type { IConnackPacket, MqttClient } from 'mqtt';
import { connectMqtt, tlsFailureOf, type MqttProtocolVersion, type MqttTlsOptions } from './connect.ts';
import { MqttTlsError } from './tls-error.ts';

export interface BrokerCapabilities {
  readonly mqtt5: boolean;
  readonly sharedSubscriptions: boolean;
}

export interface ProbeOptions {
  /** Upper bound for each step (connect, shared round trip). Default 3000 ms. */
  readonly timeoutMs?: number;
  /**
   * The prober's broker credential (docs/ARCHITECTURE.md §7.1). With one, the probe's topics are
   * `dominion/v1/probe/<username>/…`, the only probe topics the broker ACL lets it use.
   */
  readonly username?: string;
  readonly password?: string | Uint8Array;
  /** For an `mqtts://` URL: the pinned CA (connect.ts). */
  readonly tls?: MqttTlsOptions;
}

/**
 * The broker could not be reached or refused both MQTT 5 and MQTT 3.1.1. A TLS handshake failure
 * is a MqttTlsError instead, thrown after the first attempt (another protocol version cannot fix it).
 */
export class BrokerUnreachableError extends Error {
  override readonly name = 'BrokerUnreachableError';
}

const PROBE_PREFIX = 'dominion/v1/probe';

export async function probeBroker(url: string, options: ProbeOptions = {}): Promise<BrokerCapabilities> {
  const timeoutMs = options.timeoutMs ?? 3000;
  let client: MqttClient | undefined;
  try {
    const v5 = await attempt(url, 5, options);
    if (!v5.ok && v5.tls !== undefined) throw v5.tls;
    let mqtt5 = false;
    if (v5.ok) {
      mqtt5 = true;
      client = v5.client;
      // MQTT 5 lets a broker say so outright; absent means available.
      if (v5.connack.properties?.sharedSubscriptionAvailable === false) return { mqtt5, sharedSubscriptions: false };
    } else {
      const v4 = await attempt(url, 4, options);
      if (!v4.ok && v4.tls !== undefined) throw v4.tls;
      if (!v4.ok) throw new BrokerUnreachableError(`cannot connect to ${url} with MQTT 5 (${v5.reason}) or 3.1.1 (${v4.reason})`);
      client = v4.client;
    }
    const prefix = options.username === undefined ? PROBE_PREFIX : `${PROBE_PREFIX}/${options.username}`;
    return { mqtt5, sharedSubscriptions: await sharedRoundTrip(client, prefix, timeoutMs) };
  } finally {
    if (client !== undefined) await client.endAsync(true).catch(() => {});
  }
}

type Attempt = { ok: true; client: MqttClient; connack: IConnackPacket } | { ok: false; reason: string; tls?: MqttTlsError };

function attempt(url: string, protocolVersion: MqttProtocolVersion, options: ProbeOptions): Promise<Attempt> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const tls = options.tls;
  const client = connectMqtt(url, {
    protocolVersion,
    reconnectPeriodMs: 0,
    connectTimeoutMs: timeoutMs,
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(tls !== undefined ? { tls } : {}),
  });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!result.ok) client.end(true);
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `no CONNACK within ${timeoutMs} ms` }), timeoutMs);
    client.once('connect', (connack) => finish({ ok: true, client, connack }));
    const failed = (reason: string): void => {
      const tlsFailure = tlsFailureOf(client);
      finish(tlsFailure !== undefined ? { ok: false, reason: tlsFailure.message, tls: tlsFailure } : { ok: false, reason });
    };
    client.on('error', (err) => failed(err.message));
    client.once('close', () => failed('connection closed'));
  });
}

async function sharedRoundTrip(client: MqttClient, prefix: string, timeoutMs: number): Promise<boolean> {
  const id = Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(8))).toString('hex');
  const topic = `${prefix}/${id}`;
  const marker = `${prefix}/${id}-marker`;
  const shared = `$share/probe-${id}/${topic}`;
  try {
    const granted = await withTimeout(client.subscribeAsync([shared, marker], { qos: 1 }), timeoutMs, 'SUBACK');
    // 0x80 (MQTT 3.1.1) or a reason code >= 0x80 (MQTT 5, e.g. 0x9E shared subscriptions not supported).
    const sharedGrant = granted.find((g) => g.topic === shared);
    if (sharedGrant === undefined || sharedGrant.qos >= 0x80) return false;
  } catch {
    return false;
  }
  let markers = 0;
  let onMessage: (t: string) => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  const verdict = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    onMessage = (t: string): void => {
      if (t === topic) resolve(true);
      else if (t === marker && ++markers >= 2) resolve(false);
      else if (t === marker) client.publish(marker, 'probe', { qos: 1 });
    };
  });
  client.on('message', onMessage);
  try {
    client.publish(topic, 'probe', { qos: 1 });
    client.publish(marker, 'probe', { qos: 1 });
    return await verdict;
  } finally {
    clearTimeout(timer);
    client.off('message', onMessage);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
