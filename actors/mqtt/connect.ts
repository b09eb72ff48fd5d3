/**
 * MQTT client connections with Nagle's algorithm off (docs/ARCHITECTURE.md §7), in TLS for
 * `mqtts://` URLs (docs/PROTOCOL.md §6.6).
 *
 * MQTT.js opens its TCP socket with Nagle on; a request/response pair then waits on the peer's
 * delayed ACK and takes 44–88 ms on loopback instead of well under 1 ms. `mqtt.connect` gives no hook
 * into socket creation, so we hand MqttClient our own stream builder: MqttClient calls it on the
 * first connect and again on every reconnect, so every socket it ever uses gets TCP_NODELAY before
 * the CONNECT packet is written. For TLS the builder opens a `node:tls` socket that verifies the
 * broker's certificate against the pinned CA (never `rejectUnauthorized: false`).
 */
import net from 'node:net';
import tls from 'node:tls';
import { MqttClient, type IClientOptions } from 'mqtt';

export type MqttProtocolVersion = 4 | 5;
export type MqttQoS = 0 | 1 | 2;

/** The Last Will the broker publishes if this connection drops without a DISCONNECT. */
export interface MqttWill {
  readonly topic: string;
  readonly payload: Uint8Array | string;
  readonly qos?: MqttQoS;
  readonly retain?: boolean;
}

export interface ConnectMqttOptions {
  /** Defaults to a random `dominion-<hex>` id. */
  readonly clientId?: string;
  /**
   * 4 = MQTT 3.1.1 (default), 5 = MQTT 5. `'auto'`: MQTT 5, and for the rest of this client's life
   * MQTT 3.1.1 once a broker refuses version 5 at CONNACK (Aedes 1.x: "unacceptable protocol
   * version"), reconnecting at once without a refusal (`onRefused`) or its 30 s wait. The version in
   * use is `client.options.protocolVersion`.
   */
  readonly protocolVersion?: MqttProtocolVersion | 'auto';
  readonly will?: MqttWill;
  /** Delay between reconnect attempts; 0 disables reconnecting. Default 1000. */
  readonly reconnectPeriodMs?: number;
  /** How long to wait for CONNACK. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** Keep-alive in seconds. Default 60. */
  readonly keepaliveSeconds?: number;
  /** Clean session / clean start. Default true. */
  readonly clean?: boolean;
  /**
   * Let MQTT.js re-send this client's subscriptions after a reconnect (default true). Owners that
   * must know when they are subscribed again (hubs announce themselves only then) turn it off and
   * subscribe on every 'connect' themselves.
   */
  readonly resubscribe?: boolean;
  readonly username?: string;
  readonly password?: string | Uint8Array;
  /**
   * MQTT 5 only: the largest packet we accept. The broker drops (rather than sends) anything larger,
   * so oversized junk never reaches our parser.
   */
  readonly maximumPacketSize?: number;
  /**
   * MQTT 5 only: how many QoS 1/2 messages the broker may have sent us unacknowledged (Receive
   * Maximum; MQTT.js asks for 65,535). A consumer that can fall behind (a hub) keeps its backlog in
   * the broker's queue, bounded there, instead of in its own socket and memory.
   */
  readonly receiveMaximum?: number;
  /**
   * Called when the broker refuses our CONNECT (bad username or password, not authorized, …;
   * docs/ARCHITECTURE.md §7.1). MQTT.js then stops reconnecting; with `refusedRetryMs` > 0 we try
   * again after that long (default 30 000: a broker sync may admit us later), never in a tight loop.
   */
  readonly onRefused?: (reason: string) => void;
  readonly refusedRetryMs?: number;
  /** For an `mqtts://` URL: how to verify the broker (and, optionally, who we are). Refused with a plain URL. */
  readonly tls?: MqttTlsOptions;
  /**
   * Called for every TLS handshake that fails (first connect and reconnects alike), so a long-lived
   * owner counts and reports it instead of retrying in silence.
   */
  readonly onTlsFailure?: (failure: MqttTlsError) => void;
  /**
   * Called with every socket error (ECONNREFUSED, ECONNRESET, …), which MQTT.js handles without
   * emitting: so an owner can say why the broker is out of reach.
   */
  readonly onSocketError?: (err: Error) => void;
}

/** How a TLS connection verifies the broker (docs/PROTOCOL.md §6.6). */
export interface MqttTlsOptions {
  /**
   * The CA certificate(s), PEM, the broker's certificate must chain to: the pin provisioning hands
   * out. Without it Node's default CA store is used (a broker with a public certificate).
   */
  readonly ca?: string | Uint8Array;
  /** The name the broker's certificate must carry; default the URL's host. */
  readonly servername?: string;
  /** A client certificate and its key (PEM), for brokers that authenticate clients by certificate. */
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
}

import { MqttUrlError, parseBrokerUrl, type BrokerAddress } from './broker-url.ts';
import { classifyTlsFailure, type MqttTlsError } from './tls-error.ts';

export { MqttUrlError, parseBrokerUrl, type BrokerAddress } from './broker-url.ts';

/**
 * The broker's address, refusing TLS options for a plain URL: a CA given there would pin nothing, a
 * configuration mistake said at once (MqttUrlError).
 */
export function brokerAddressFor(url: string, tls: MqttTlsOptions | undefined): BrokerAddress {
  const address = parseBrokerUrl(url);
  if (tls !== undefined && !address.tls) throw new MqttUrlError(url, 'TLS options (a broker CA) given for a plain URL: use mqtts://');
  return address;
}

/** A fresh TCP socket to the broker with TCP_NODELAY requested before it connects. */
export function noDelaySocket(address: BrokerAddress): net.Socket {
  const socket = net.createConnection({ host: address.host, port: address.port });
  // Before the handle exists Node remembers the flag and applies it once connected.
  socket.setNoDelay(true);
  return socket;
}

/**
 * A fresh TLS socket to the broker, TCP_NODELAY requested before it connects (the TLS socket hands
 * the flag to its TCP handle). A handshake failure is recorded (tls-error.ts) before MQTT.js sees it.
 */
export function noDelayTlsSocket(
  address: BrokerAddress,
  options: MqttTlsOptions = {},
  onFailure: (failure: MqttTlsError) => void = () => {},
): tls.TLSSocket {
  const servername = options.servername ?? address.host;
  const socket = tls.connect({
    host: address.host,
    port: address.port,
    // SNI carries DNS names only (RFC 6066); an IP host is still checked against the certificate's IP SANs.
    ...(net.isIP(servername) === 0 ? { servername } : {}),
    ...(options.ca !== undefined ? { ca: toBuffer(options.ca) } : {}),
    ...(options.cert !== undefined ? { cert: toBuffer(options.cert) } : {}),
    ...(options.key !== undefined ? { key: toBuffer(options.key) } : {}),
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert),
  });
  socket.setNoDelay(true);
  let secured = false;
  socket.once('secureConnect', () => void (secured = true));
  socket.on('error', (err) => {
    const failure = secured ? undefined : classifyTlsFailure(err, `${address.host}:${address.port}`, servername);
    if (failure !== undefined) onFailure(failure);
  });
  return socket;
}

/**
 * Connects to `url` and returns the MQTT.js client. Every socket, including those opened on
 * reconnect, has TCP_NODELAY set. The client already has an `error` listener (connection errors
 * surface as `close`/`offline` and are retried), so an unhandled `error` never crashes the process.
 */
export function connectMqtt(url: string, options: ConnectMqttOptions = {}): MqttClient {
  const address = brokerAddressFor(url, options.tls);
  const auto = options.protocolVersion === 'auto';
  const clientOptions: IClientOptions = {
    protocol: 'mqtt',
    host: address.host,
    port: address.port,
    clientId: options.clientId ?? `dominion-${randomHex(8)}`,
    protocolVersion: auto ? 5 : (options.protocolVersion ?? 4),
    reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    keepalive: options.keepaliveSeconds ?? 60,
    clean: options.clean ?? true,
    resubscribe: options.resubscribe ?? true,
    manualConnect: true,
    // mqtt-packet otherwise builds a table of 65,536 two-byte Buffers for packet ids on the first
    // write: 6 MB of heap (measured) that every major GC walks, to save one 2-byte write per packet.
    writeCache: false,
  };
  if (options.username !== undefined) clientOptions.username = options.username;
  if (options.password !== undefined) clientOptions.password = toBuffer(options.password);
  if (options.will !== undefined) {
    clientOptions.will = {
      topic: options.will.topic,
      payload: toBuffer(options.will.payload),
      qos: options.will.qos ?? 0,
      retain: options.will.retain ?? false,
    };
  }
  if (clientOptions.protocolVersion === 5 && (options.maximumPacketSize !== undefined || options.receiveMaximum !== undefined)) {
    clientOptions.properties = {
      ...(options.maximumPacketSize !== undefined ? { maximumPacketSize: options.maximumPacketSize } : {}),
      ...(options.receiveMaximum !== undefined ? { receiveMaximum: options.receiveMaximum } : {}),
    };
  }
  const tlsOptions = options.tls ?? {};
  let client: MqttClient | undefined;
  const onFailure = (failure: MqttTlsError): void => {
    if (client !== undefined) lastTlsFailure.set(client, failure);
    options.onTlsFailure?.(failure);
  };
  client = new MqttClient(() => {
    const socket = address.tls ? noDelayTlsSocket(address, tlsOptions, onFailure) : noDelaySocket(address);
    const onSocketError = options.onSocketError;
    if (onSocketError !== undefined) socket.on('error', (err) => onSocketError(err));
    return socket;
  }, clientOptions);
  const connected = client;
  connected.on('connect', () => void lastTlsFailure.delete(connected));
  // With manualConnect MQTT.js clears `disconnecting` once end() has closed its stores; a socket
  // whose 'close' comes later (a TLS socket always does) would then arm a reconnect on an ended
  // client. Ended means ended: no reconnect after it.
  connected.on('end', () => void (connected.options.reconnectPeriod = 0));
  // mqtt.connect() installs the same no-op listener; without one an EventEmitter 'error' throws.
  connected.on('error', () => {});
  const retryMs = options.refusedRetryMs ?? 30_000;
  let retry: NodeJS.Timeout | undefined;
  connected.on('error', (err) => {
    const reason = connectRefusal(err);
    if (reason === undefined) return;
    if (auto && connected.options.protocolVersion === 5 && refusesVersion(err)) {
      // Not a refusal of us: of the version. MQTT 3.1.1 from now on (its CONNECT has no properties).
      connected.options.protocolVersion = 4;
      delete connected.options.properties;
      // Once MQTT.js has closed the refused socket; connect() keeps the queued messages.
      fallingBack.add(connected);
      connected.once('close', () => {
        fallingBack.delete(connected);
        if (!connected.disconnecting) connected.connect();
      });
      return;
    }
    options.onRefused?.(reason);
    if (retryMs > 0 && options.reconnectPeriodMs !== 0 && retry === undefined)
      retry = setTimeout(() => {
        retry = undefined;
        if (!connected.disconnecting) connected.reconnect(); // unless its owner ended it meanwhile
      }, retryMs).unref();
  });
  connected.once('end', () => clearTimeout(retry));
  connected.connect();
  return connected;
}

/**
 * The broker's reason when `err` is a refused CONNECT (CONNACK return code 1-5 on MQTT 3.1.1, reason
 * code ≥ 0x80 on MQTT 5), else undefined. Never includes the credential.
 */
export function connectRefusal(err: unknown): string | undefined {
  if (!(err instanceof Error) || !err.message.startsWith('Connection refused')) return undefined;
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'number' ? `${err.message} (code ${code})` : err.message;
}

/**
 * A CONNACK refusing the protocol version: MQTT 3.1.1 return code 1 (which Aedes sends to an MQTT 5
 * CONNECT) or MQTT 5 reason code 0x84 (Unsupported Protocol Version).
 */
function refusesVersion(err: Error): boolean {
  const code = (err as Error & { code?: unknown }).code;
  return code === 1 || code === 0x84;
}

/** `'auto'` clients between a refusal of MQTT 5 and their MQTT 3.1.1 attempt: not a failure to report. */
const fallingBack = new WeakSet<MqttClient>();

/** The client's TLS handshake failures since it was last connected: the most recent. */
const lastTlsFailure = new WeakMap<MqttClient, MqttTlsError>();

/** The TLS handshake failure that kept `client` from connecting most recently, if any (cleared on connect). */
export function tlsFailureOf(client: MqttClient): MqttTlsError | undefined {
  return lastTlsFailure.get(client);
}

/**
 * Waits for the client's first CONNACK; rejects on a connection error, close, or after `timeoutMs`.
 * A TLS handshake failure rejects with MqttTlsError (tls-error.ts).
 */
export function awaitConnected(client: MqttClient, timeoutMs = 10_000): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no CONNACK within ${timeoutMs} ms`)), timeoutMs);
    const onConnect = (): void => finish();
    const onError = (err: Error): void => void (fallingBack.has(client) || finish(tlsFailureOf(client) ?? err));
    const onClose = (): void =>
      void (fallingBack.has(client) || finish(tlsFailureOf(client) ?? new Error('connection closed before CONNACK')));
    function finish(err?: Error): void {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    }
    client.on('connect', onConnect);
    client.on('error', onError);
    client.on('close', onClose);
  });
}

/** Zero-copy view of bytes as the Buffer MQTT.js expects. */
export function toBuffer(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function randomHex(bytes: number): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
