/**
 * The hub's status message (docs/ARCHITECTURE.md §7): retained JSON on `topics.hubStatus(hubId)`, published
 * online at every (re)connect and offline at a clean stop; the same offline body is the Last Will, so
 * a crashed hub reads offline too. With a shared subscription each process has its own status topic
 * (`processStatusTopic`), so one crashed process does not mark the others offline. It says how the hub listens (shared or plain subscription, MQTT
 * version) so an operator can see why a second hub process of one role gets no work on Aedes.
 * It carries no key material.
 */
import { TopicError, topics } from '../../proto/index.ts';

export type SubscriptionMode = 'shared' | 'plain';

/** One broker a hub process serves, as that process sees it (a hub on several brokers, docs/ARCHITECTURE.md §7). */
export interface BrokerState {
  /** The broker's URL as configured (never with a credential: broker-url.ts refuses those). */
  readonly url: string;
  /** Connected and subscribed: requests arriving on this broker are answered. */
  readonly online: boolean;
  /** How it listens there, once the broker has been probed. */
  readonly subscription?: SubscriptionMode;
  readonly protocol?: 4 | 5;
  /** Why it is not connected there, when known (connection error, TLS handshake failure). */
  readonly problem?: string;
}

export interface HubStatus {
  readonly hubId: string;
  /** `ih` or `sh`. */
  readonly role: 'ih' | 'sh';
  /** For an SH: the service it dominates. */
  readonly service?: string;
  readonly online: boolean;
  readonly subscription: SubscriptionMode;
  /** The share group, when `subscription` is `shared`. */
  readonly shareGroup?: string;
  /** MQTT protocol level in use: 4 (3.1.1) or 5. */
  readonly protocol: 4 | 5;
  /** This hub process's MQTT client id (several processes may serve one hub id). */
  readonly clientId: string;
  /** Why the subscription mode differs from what was asked, if it does. */
  readonly note?: string;
  /**
   * False when the hub cannot answer requests although it may be connected (a damaged database,
   * commits that keep failing): `problem` says why, and the process stops (docs/ARCHITECTURE.md §7,
   * "Readiness"). Absent from hubs older than this field; read absent as ready.
   */
  readonly ready?: boolean;
  /** Why the hub is not ready; published. Names no key material. */
  readonly problem?: string;
  /** Locally, while offline: why the broker connection fails (a TLS handshake failure); never published. */
  readonly connectionProblem?: string;
  /**
   * Every broker this process serves, in the order given. The fields above (`subscription`,
   * `protocol`, `note`) describe the broker the status was published on; `online` is true while
   * any broker is up. Absent from hubs older than this field and from the Last Will.
   */
  readonly brokers?: readonly BrokerState[];
  /** When this status was published (hub clock, ms since epoch). */
  readonly atMs: number;
}

/**
 * Where one process of a multi-process hub publishes its own status and Will:
 * `dominion/v1/hub/<hubId>/status/<processId>` (a segment under the hub's status topic, so
 * `…/status/#` sees the hub and all its processes).
 */
export function processStatusTopic(hubId: string, processId: string): string {
  if (!PROCESS_ID.test(processId))
    throw new TopicError(`process id "${processId.slice(0, 80)}" is not a valid topic segment (1-64 of [A-Za-z0-9._:-])`);
  return `${topics.hubStatus(hubId)}/${processId}`;
}

const PROCESS_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function encodeHubStatus(status: HubStatus): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(status));
}

/** Room for a few dozen brokers' entries. */
const MAX_STATUS_BYTES = 16_384;

/** Parses a status message; undefined for anything that is not one (it arrives unauthenticated). */
export function parseHubStatus(bytes: Uint8Array): HubStatus | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength > MAX_STATUS_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const ok =
    typeof v.hubId === 'string' &&
    (v.role === 'ih' || v.role === 'sh') &&
    (v.service === undefined || typeof v.service === 'string') &&
    typeof v.online === 'boolean' &&
    (v.subscription === 'shared' || v.subscription === 'plain') &&
    (v.shareGroup === undefined || typeof v.shareGroup === 'string') &&
    (v.protocol === 4 || v.protocol === 5) &&
    typeof v.clientId === 'string' &&
    (v.note === undefined || typeof v.note === 'string') &&
    (v.ready === undefined || typeof v.ready === 'boolean') &&
    (v.problem === undefined || typeof v.problem === 'string') &&
    (v.connectionProblem === undefined || typeof v.connectionProblem === 'string') &&
    (v.brokers === undefined || (Array.isArray(v.brokers) && v.brokers.every(isBrokerState))) &&
    typeof v.atMs === 'number';
  return ok ? (v as unknown as HubStatus) : undefined;
}

function isBrokerState(value: unknown): value is BrokerState {
  if (typeof value !== 'object' || value === null) return false;
  const b = value as Record<string, unknown>;
  return (
    typeof b.url === 'string' &&
    typeof b.online === 'boolean' &&
    (b.subscription === undefined || b.subscription === 'shared' || b.subscription === 'plain') &&
    (b.protocol === undefined || b.protocol === 4 || b.protocol === 5) &&
    (b.problem === undefined || typeof b.problem === 'string')
  );
}
