/**
 * Who may do what on the broker (docs/ARCHITECTURE.md §7.1), as data: one table that renders to
 * Mosquitto's `acl_file` (acl-file.ts) and drives the embedded broker's hooks (authorizer.ts), so
 * the two brokers cannot drift apart. Each rule names its reason.
 *
 * Topic templates: `%u` is the client's broker username (for a device: its device id), `{hub}` the
 * hub's id, `{service}` a service hub's service. Everything not granted here is refused: an
 * anonymous client cannot connect at all, and a device reads and writes only its own topics.
 */
import { lanes, serviceInstance, TOPIC_PREFIX } from '../../proto/index.ts';

export type Access = 'read' | 'write' | 'readwrite';

/**
 * `device`: every device (rendered as Mosquitto `pattern` lines, which apply to every user; the
 * device templates all contain `%u`, so for a hub they name topics of a device `hub@…` that cannot
 * exist). `hub`: every hub; `ih`: infrastructure hubs; `sh`: service hubs (`{service}` is theirs).
 * `anyone`: every authenticated client.
 */
export type Audience = 'device' | 'hub' | 'ih' | 'sh' | 'anyone';

export interface AclRule {
  readonly who: Audience;
  readonly access: Access;
  readonly topic: string;
  readonly reason: string;
}

const P = TOPIC_PREFIX;
const reply = (lane: string): string => `${P}/device/+/reply/${lane}`;

export const ACL_RULES: readonly AclRule[] = [
  // ── devices (mm holds the credential; docs/PROTOCOL.md §6.1) ──
  {
    who: 'device',
    access: 'write',
    topic: `${P}/hub/+/request/%u`,
    reason:
      'a device publishes only its own requests (tickets, boot, images), to any hub; the hub also checks the signer is the topic device',
  },
  {
    who: 'device',
    access: 'write',
    topic: `${P}/service/+/%u/+`,
    reason: "a device publishes service data only as itself; which service's SH reads it is the SH's rule",
  },
  {
    who: 'device',
    access: 'read',
    topic: `${P}/device/%u/reply/+`,
    reason: "a device reads only its own replies: another device's replies carry that device's runtime state",
  },
  {
    who: 'device',
    access: 'read',
    topic: `${P}/device/%u/service/+`,
    reason: "a device reads only its own services' inbound data",
  },
  // ── every hub ──
  {
    who: 'hub',
    access: 'read',
    topic: `${P}/hub/{hub}/request/+`,
    reason: "a hub reads its own request topics (also through $share/<group>/…), never another hub's",
  },
  {
    who: 'hub',
    access: 'write',
    topic: `${P}/hub/{hub}/status`,
    reason: 'a hub publishes its retained status and Last Will (actors/hub/status.ts)',
  },
  {
    who: 'hub',
    access: 'write',
    topic: `${P}/hub/{hub}/status/+`,
    reason: 'one process of a multi-process hub publishes its own status and Will (processStatusTopic)',
  },
  {
    who: 'hub',
    access: 'readwrite',
    topic: `${P}/probe/%u/#`,
    reason: "a hub's broker capability probe (actors/mqtt/probe.ts) runs under its own username",
  },
  // ── the infrastructure hub: device and mm, gated boot, their images (actors/hub/role.ts, proto/lanes.ts) ──
  { who: 'ih', access: 'write', topic: reply('device'), reason: "the IH answers the device instance (sw's AWDT)" },
  { who: 'ih', access: 'write', topic: reply('mm'), reason: "the IH answers mm's AWDT" },
  { who: 'ih', access: 'write', topic: reply(lanes.boot), reason: 'the IH alone issues boot tickets (gated boot)' },
  { who: 'ih', access: 'write', topic: reply(lanes.image('device')), reason: 'the IH serves sw and hypervisor images' },
  { who: 'ih', access: 'write', topic: reply(lanes.image('mm')), reason: 'the IH serves mm images' },
  // ── a service hub: its own sm:<service> and its images, and its service's data ──
  { who: 'sh', access: 'write', topic: reply(serviceLane('{service}')), reason: 'an SH answers only its own service instance' },
  {
    who: 'sh',
    access: 'write',
    topic: reply(lanes.image(serviceLane('{service}'))),
    reason: "an SH serves only its own service's images",
  },
  {
    who: 'sh',
    access: 'write',
    topic: `${P}/device/+/service/{service}`,
    reason: 'an SH sends inbound data to its own service on any device',
  },
  { who: 'sh', access: 'read', topic: `${P}/service/{service}/+/+`, reason: "an SH reads its own service's data from every device" },
  // ── everyone authenticated ──
  {
    who: 'anyone',
    access: 'read',
    topic: `${P}/hub/+/status/#`,
    reason: 'hub status carries no key material and tells an operator or device which hubs are online',
  },
];

/** `sm:<service>` for a template: `{service}` is substituted later, real names are checked now. */
function serviceLane(service: string): string {
  return service === '{service}' ? `sm:${service}` : serviceInstance(service);
}
