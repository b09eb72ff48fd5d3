/**
 * An in-process hub link: `mm` talks to hub cores directly, without a broker. For deterministic tests
 * under `ManualClock` and for simulations; replies are delivered synchronously. A `tamper` hook lets
 * tests play a hostile `mm` or network (drop, delay, duplicate, replay, reorder, forge).
 */
import { instanceOfReplyTopic } from '../../proto/index.ts';
import type { HubLink, HubLinkSink } from '../mm/index.ts';

/** What a hub does with one request: a reply to publish, or nothing. */
export type HubHandler = (request: Uint8Array) => { readonly topic: string; readonly payload: Uint8Array } | undefined;

export interface DirectLinkOptions {
  readonly deviceId: string;
  readonly hubs: ReadonlyMap<string, HubHandler>;
  /** Service traffic published by the device, for tests to inspect. */
  readonly onService?: (service: string, stream: string, payload: Uint8Array) => void;
  /**
   * Sees each reply before delivery and decides what reaches the device: call `deliver` zero or more
   * times, now or later. Default: deliver once, at once.
   */
  readonly tamper?: (instance: string, envelope: Uint8Array, deliver: (instance: string, envelope: Uint8Array) => void) => void;
  /** While false, requests are lost (a network outage). */
  readonly online?: () => boolean;
}

export class DirectHubLink implements HubLink {
  private sink: HubLinkSink | null = null;
  requests = 0;

  constructor(private readonly o: DirectLinkOptions) {}

  start(sink: HubLinkSink): void {
    this.sink = sink;
    sink.connection(true);
  }

  publishRequest(hubId: string, envelope: Uint8Array): void {
    this.requests++;
    if (this.o.online && !this.o.online()) return;
    const reply = this.o.hubs.get(hubId)?.(envelope.slice());
    if (reply === undefined || this.sink === null) return;
    const instance = instanceOfReplyTopic(reply.topic, this.o.deviceId);
    if (instance === undefined) return;
    const deliver = (i: string, e: Uint8Array): void => this.sink?.reply(i, e);
    if (this.o.tamper) this.o.tamper(instance, reply.payload, deliver);
    else deliver(instance, reply.payload);
  }

  /** Refused while offline, as a link that cannot reach its broker refuses service data. */
  publishService(service: string, stream: string, payload: Uint8Array): boolean {
    if (this.o.online && !this.o.online()) return false;
    this.o.onService?.(service, stream, payload.slice());
    return true;
  }

  close(): void {
    this.sink = null;
  }
}
