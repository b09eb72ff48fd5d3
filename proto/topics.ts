/**
 * MQTT topic conventions (docs/ARCHITECTURE.md §7), all under one versioned prefix. Topics only route:
 * correlation (device, instance, nonce) lives inside the signed payload, so nothing in a topic or an
 * MQTT property is trusted.
 *
 *   dominion/v1/hub/<hubId>/request                      devices → hub   SignedEnvelope(TicketRequest)
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
  hubRequest: (hubId: string) => `${TOPIC_PREFIX}/hub/${segment('hub id', hubId)}/request`,
  /** What a hub process subscribes to; `shareGroup` splits the load between hub processes (MQTT 5 / Mosquitto). */
  hubRequestSubscription: (hubId: string, shareGroup?: string) =>
    shareGroup === undefined ? topics.hubRequest(hubId) : `$share/${segment('share group', shareGroup)}/${topics.hubRequest(hubId)}`,
  reply: (deviceId: string, instance: string) =>
    `${TOPIC_PREFIX}/device/${segment('device id', deviceId)}/reply/${segment('instance', instance)}`,
  replySubscription: (deviceId: string) => `${TOPIC_PREFIX}/device/${segment('device id', deviceId)}/reply/+`,
  hubStatus: (hubId: string) => `${TOPIC_PREFIX}/hub/${segment('hub id', hubId)}/status`,
  serviceOut: (service: string, deviceId: string, stream: string) =>
    `${TOPIC_PREFIX}/service/${segment('service', service)}/${segment('device id', deviceId)}/${segment('stream', stream)}`,
  serviceIn: (deviceId: string, service: string) =>
    `${TOPIC_PREFIX}/device/${segment('device id', deviceId)}/service/${segment('service', service)}`,
} as const;

/** The instance named by a reply topic, or `undefined` if the topic is not a reply topic for `deviceId`. */
export function instanceOfReplyTopic(topic: string, deviceId: string): string | undefined {
  const prefix = `${TOPIC_PREFIX}/device/${deviceId}/reply/`;
  if (!topic.startsWith(prefix)) return undefined;
  const instance = topic.slice(prefix.length);
  return SEGMENT.test(instance) ? instance : undefined;
}
