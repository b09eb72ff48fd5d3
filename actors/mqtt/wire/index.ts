/**
 * The door to `actors/mqtt/wire/`: the hubs' own MQTT session (docs/ARCHITECTURE.md §7, "The hub's
 * MQTT session"), framed by hand for the request/reply path; everything else uses MQTT.js.
 */
export { MqttRefusedError, MqttSession, type MqttSessionHooks, type MqttSessionOptions } from './session.ts';
export { MqttWireError } from './packets.ts';
