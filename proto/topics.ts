/**
 * MQTT topic conventions (docs/ARCHITECTURE.md §7), all under one versioned prefix. Topics only route:
 * correlation (device, instance, nonce) lives inside the signed payload, so nothing in a topic or an
 * MQTT property is trusted.
 *
 *   dominion/v1/hub/<hubId>/request/<deviceId>           device → hub    SignedEnvelope(TicketRequest, BootRequest, ImageRequest)
 *   dominion/v1/device/<deviceId>/reply/<instance>       hub → device    SignedEnvelope(TicketReply)
 *   dominion/v1/hub/<hubId>/status                       hub status (JSON), retained, with a Last Will
 *   dominion/v1/hub/<hubId>/status/<clientId>            the same, per process, for a hub on a shared subscription
 *   dominion/v1/service/<service>/<deviceId>/<stream>    sm:<service> → its service hub (telemetry)
 *   dominion/v1/device/<deviceId>/service/<service>      service hub → sm:<service>
 *   dominion/v1/probe/<random>[-marker]                  a hub's broker capability probe (actors/mqtt/probe.ts)
 *
 * The wire-level specification of all of these is docs/PROTOCOL.md.
 */
export const TOPIC_PREFIX = 'dominion/v1';

const SEGMENT = /^[A-Za-z0-9._:-]{1,64}$/;

export class TopicError extends Error {
  override readonly name = 'TopicError';
}

function segment(kind: string, value: string): string {
  if (!SEGMENT.test(value)) throw new TopicError(`${kind} "${value.slice(0, 80)}" is not a valid topic segment (1-64 of [A-Za-z0-9._:-])`);
  return value;
}

export const topics = {
  /**
   * The hub's request base (`fetchTopic` in UPDATE_REQUIRED names it); each device publishes under
   * it on a topic of its own, so a broker ACL can say "a device sends only its own requests".
   */
  hubRequestBase: (hubId: string) => `${TOPIC_PREFIX}/hub/${segment('hub id', hubId)}/request`,
  /** Where `deviceId` publishes its requests to `hubId` (docs/PROTOCOL.md §6.1). */
  hubRequest: (hubId: string, deviceId: string) => `${topics.hubRequestBase(hubId)}/${segment('device id', deviceId)}`,
  /** What a hub process subscribes to; `shareGroup` splits the load between hub processes (MQTT 5 / Mosquitto). */
  hubRequestSubscription: (hubId: string, shareGroup?: string) =>
    shareGroup === undefined
      ? `${topics.hubRequestBase(hubId)}/+`
      : `$share/${segment('share group', shareGroup)}/${topics.hubRequestBase(hubId)}/+`,
  reply: (deviceId: string, instance: string) =>
    `${TOPIC_PREFIX}/device/${segment('device id', deviceId)}/reply/${segment('instance', instance)}`,
  replySubscription: (deviceId: string) => `${TOPIC_PREFIX}/device/${segment('device id', deviceId)}/reply/+`,
  hubStatus: (hubId: string) => `${TOPIC_PREFIX}/hub/${segment('hub id', hubId)}/status`,
  serviceOut: (service: string, deviceId: string, stream: string) =>
    `${TOPIC_PREFIX}/service/${segment('service', service)}/${segment('device id', deviceId)}/${segment('stream', stream)}`,
  serviceIn: (deviceId: string, service: string) =>
    `${TOPIC_PREFIX}/device/${segment('device id', deviceId)}/service/${segment('service', service)}`,
} as const;

/**
 * The device id a request topic of `hubId` names, or `undefined` if `topic` is not one. The hub
 * refuses a request signed by another device than this one (actors/hub/authenticate.ts).
 */
export function deviceOfRequestTopic(topic: string, hubId: string): string | undefined {
  const prefix = `${TOPIC_PREFIX}/hub/${hubId}/request/`;
  if (!topic.startsWith(prefix)) return undefined;
  const deviceId = topic.slice(prefix.length);
  return SEGMENT.test(deviceId) ? deviceId : undefined;
}

/** The instance named by a reply topic, or `undefined` if the topic is not a reply topic for `deviceId`. */
export function instanceOfReplyTopic(topic: string, deviceId: string): string | undefined {
  const prefix = `${TOPIC_PREFIX}/device/${deviceId}/reply/`;
  if (!topic.startsWith(prefix)) return undefined;
  const instance = topic.slice(prefix.length);
  return SEGMENT.test(instance) ? instance : undefined;
}
