/**
 * `mm`, the management VM: the only domain with a network. The ticket receiver relays signed frames
 * between the proxy and the hubs as opaque bytes; the forwarder carries service traffic; the uplink
 * owns the MQTT connection. It holds no secret and signs nothing.
 */
export { forwarder, type ForwarderCounters, type ForwarderMsg, type ForwarderOptions } from './forwarder.ts';
export type { HubLink, HubLinkSink, RequestKind } from './hub-link.ts';
export {
  newReceiverCounters,
  ticketReceiver,
  type ReceiverCounters,
  type ReceiverMsg,
  type ReceiverRoute,
  type TicketReceiverOptions,
} from './ticket-receiver.ts';
export { uplinkActor, type LinkHolder } from './uplink.ts';
export { MqttHubLink, mmKeepaliveSeconds, requestExpirySeconds, type MqttLinkCounters, type MqttLinkOptions } from './mqtt-link.ts';
export { installMm, type MmInstallOptions } from './domain.ts';
