/**
 * How `mm` reaches the hubs. The real link is MQTT (mqtt-link.ts); tests and simulations plug in an
 * in-process one. `mm` hands it opaque bytes and gets opaque bytes back: it never reads a ticket.
 */
export interface HubLinkSink {
  /** A reply for `instance` arrived (the instance comes from the topic: it only routes). */
  reply(instance: string, envelope: Uint8Array): void;
  /** Service traffic for `sm:<service>` arrived. */
  service(service: string, payload: Uint8Array): void;
  /** The link went up or down. */
  connection(up: boolean): void;
  /** After `publishService` refused, the link has room for service traffic again. */
  writable(): void;
}

export type RequestKind = 'ticket' | 'lane';

export interface HubLink {
  start(sink: HubLinkSink): void;
  /**
   * QoS 1, best effort: a failure is reported through the link's counters, never thrown. `kind`
   * `'ticket'`: a ticket round's request, of no use after one interval (on MQTT 5 it expires then,
   * docs/PROTOCOL.md §6.3); otherwise a boot or image request, whose asker keeps its own time.
   */
  publishRequest(hubId: string, envelope: Uint8Array, kind?: RequestKind): void;
  /**
   * QoS 1, best effort. Returns false, sending nothing, while the link already holds as much
   * unacknowledged service traffic as it allows: a streaming service must not queue without bound
   * inside `mm` (nor delay the ticket requests that share the connection).
   */
  publishService(service: string, stream: string, payload: Uint8Array): boolean;
  close(): void;
}
