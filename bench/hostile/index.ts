/**
 * The hostile MQTT proxy (proxy.ts) and its framing: for the resilience bench and for tests that
 * need a lossy or hostile network between a device and a real broker.
 */
export {
  HostileProxy,
  type Direction,
  type DirectionCounters,
  type DirectionPlan,
  type HostilePlan,
  type HostileProxyOptions,
  type ProxyCounters,
  type StaleInjection,
} from './proxy.ts';
export {
  encodePuback,
  encodePublish,
  FramingError,
  PacketSplitter,
  packetType,
  parsePublish,
  publishAtQos0,
  PUBACK,
  PUBLISH,
  type PublishHead,
} from './framing.ts';
export { deriveSeed, seededRandom, type Random } from './prng.ts';
export { replyTopicOf } from './topics.ts';
