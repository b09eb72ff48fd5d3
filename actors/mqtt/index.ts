/**
 * The door to `actors/mqtt/`: MQTT plumbing shared by the device's `mm` domain and the hubs
 * (docs/ARCHITECTURE.md §7). Every socket opened here, client or broker side, has TCP_NODELAY set.
 */
export {
  awaitConnected,
  brokerAddressFor,
  connectMqtt,
  connectRefusal,
  MqttUrlError,
  noDelaySocket,
  noDelayTlsSocket,
  parseBrokerUrl,
  tlsFailureOf,
  toBuffer,
  type BrokerAddress,
  type ConnectMqttOptions,
  type MqttTlsOptions,
  type MqttProtocolVersion,
  type MqttQoS,
  type MqttWill,
} from './connect.ts';
export { isLoopbackHost, plaintextRefusal } from './broker-url.ts';
export { MqttTlsError, type MqttTlsReason } from './tls-error.ts';
export { startEmbeddedBroker, type BrokerAuth, type EmbeddedBroker, type EmbeddedBrokerOptions, type EmbeddedBrokerTls } from './broker.ts';
export { BrokerUnreachableError, probeBroker, type BrokerCapabilities, type ProbeOptions } from './probe.ts';
export type { MqttClient } from 'mqtt';
