/**
 * The door to `actors/mqtt/`: MQTT plumbing shared by the device's `mm` domain and the hubs
 * (docs/ARCHITECTURE.md §7). Every socket opened here, client or broker side, has TCP_NODELAY set.
 */
export {
  awaitConnected,
  connectMqtt,
  connectRefusal,
  MqttUrlError,
  noDelaySocket,
  parseBrokerUrl,
  toBuffer,
  type BrokerAddress,
  type ConnectMqttOptions,
  type MqttProtocolVersion,
  type MqttQoS,
  type MqttWill,
} from './connect.ts';
export { startEmbeddedBroker, type BrokerAuth, type EmbeddedBroker, type EmbeddedBrokerOptions } from './broker.ts';
export { BrokerUnreachableError, probeBroker, type BrokerCapabilities, type ProbeOptions } from './probe.ts';
export type { MqttClient } from 'mqtt';
