import { ChannelError, CHANNEL_ERROR_CODES, type ChannelErrorCode } from './channel-error.ts';
import { FrameArena } from './arena.ts';
import { FRAME_HEADER_BYTES, checkFrame, frameLength, writeFrame } from './frame.ts';
import type { Supervisor } from './supervisor.ts';
import type { ActorRef } from './types.ts';

/** How one message type becomes bytes and back. `decode` throws on bad bytes; the channel catches it. */
export interface MessageCodec<T> {
  readonly name: string;
  encode(msg: T): Uint8Array;
  decode(bytes: Uint8Array): T;
  /** Optional zero-copy path: exact encoded size, then encode straight into the frame. */
  encodedSize?(msg: T): number;
  encodeInto?(msg: T, out: Uint8Array): void;
}

/** What a channel carries: its declared message types (by position = type id) and its frame limit. */
export interface ChannelSpec {
  readonly name: string;
  readonly types: readonly MessageCodec<unknown>[];
  readonly maxFrameBytes: number;
}

export function defineChannel(spec: ChannelSpec): ChannelSpec {
  const names = new Set(spec.types.map((t) => t.name));
  if (names.size !== spec.types.length) throw new Error(`channel ${spec.name}: two declared types share a name`);
  if (spec.types.length === 0 || spec.types.length > 0xffff) throw new Error(`channel ${spec.name}: declare 1..65535 types`);
  if (!Number.isInteger(spec.maxFrameBytes) || spec.maxFrameBytes < 16) {
    throw new Error(`channel ${spec.name}: maxFrameBytes must be an integer >= 16`);
  }
  return Object.freeze({ ...spec, types: Object.freeze([...spec.types]) });
}

/**
 * A codec that passes bytes through untouched, for domains that relay frames without reading them.
 * Decoding returns a view into the received frame, which belongs to the receiver alone.
 */
export function rawCodec(name: string): MessageCodec<Uint8Array> {
  return { name, encode: (b) => b, decode: (b) => b };
}

export type ChannelCounters = Record<ChannelErrorCode, number> & { sent: number; delivered: number };

const EMPTY = new Uint8Array(0);

interface Route {
  deliver(msg: unknown): boolean;
}

/**
 * Where an endpoint's frames go: the other endpoint in this process, or a stream to another process
 * (runtime/stream-link.ts). It takes the frame or says why not; it never throws.
 */
export interface FramePeer {
  acceptFrame(frame: Uint8Array): 'ok' | 'closed' | 'full';
}

/**
 * One side of a channel, living in one domain. `send` encodes to a frame and hands the bytes to the
 * other side's inlet (an actor in the other domain, so decoding runs there, at its priority); frames
 * arriving here are parsed, decoded and routed to the actor registered for their type.
 */
export class ChannelEndpoint implements FramePeer {
  readonly counters: ChannelCounters;
  /**
   * Types are addressed by name, not by object: an end built from one bundle's copy of a codec and
   * code holding another copy (same name, same wire format) meet on the same type id.
   */
  private readonly typeIds = new Map<string, number>();
  private readonly routes: Array<Route | undefined>;
  private readonly listeners: Array<(error: ChannelError) => void> = [];
  private readonly inlet: ActorRef<Uint8Array>;
  /** Path of the inlet actor this endpoint put into its domain. */
  readonly inletPath: string;
  private peer: FramePeer | null = null;
  private readonly arena = new FrameArena();

  constructor(
    readonly spec: ChannelSpec,
    readonly domain: Supervisor,
    inletCapacity: number,
    side: string,
  ) {
    spec.types.forEach((t, id) => this.typeIds.set(t.name, id));
    this.routes = new Array<Route | undefined>(spec.types.length);
    const counters: Partial<ChannelCounters> = { sent: 0, delivered: 0 };
    for (const code of CHANNEL_ERROR_CODES) counters[code] = 0;
    this.counters = counters as ChannelCounters;
    this.inlet = domain.spawn<Uint8Array>({
      name: `ch.${spec.name}.${side}`,
      capacity: inletCapacity,
      start: () => ({ receive: (frame) => this.receiveFrame(frame) }),
    });
    this.inletPath = this.inlet.path;
  }

  connect(peer: FramePeer): void {
    this.peer = peer;
  }

  /** Takes a frame for this side's inlet (from the peer endpoint or a stream); decoding runs in the inlet. */
  acceptFrame(frame: Uint8Array): 'ok' | 'closed' | 'full' {
    if (!this.domain.isRunning) return 'closed';
    return this.inlet.offer(frame) ? 'ok' : 'full';
  }

  /** A frame that arrived from a stream: offered to this side's inlet, a refusal counted here. */
  receive(frame: Uint8Array): boolean {
    const r = this.acceptFrame(frame);
    if (r === 'ok') return true;
    return this.reject(
      r === 'closed'
        ? new ChannelError('closed', this.spec.name, 'this domain is not running')
        : new ChannelError('receiver-full', this.spec.name, 'the inlet is full'),
    );
  }

  /** Counts and reports an error found outside the endpoint (a stream's framing). */
  report(error: ChannelError): void {
    this.reject(error);
  }

  /** Sends to the other side; `false` (with a counted, reported `ChannelError`) when refused. */
  send<T>(type: MessageCodec<T>, msg: T): boolean {
    const typeId = this.typeIds.get(type.name);
    if (typeId === undefined) return this.reject(new ChannelError('undeclared-type', this.spec.name, `type ${type.name} is not declared`));
    // An encoder that throws is the sender's fault, for its supervisor.
    if (type.encodedSize !== undefined && type.encodeInto !== undefined) {
      const total = frameLength(type.encodedSize(msg));
      if (total > this.spec.maxFrameBytes) return this.oversized(type.name, total);
      const frame = writeFrame(this.arena.alloc(total), typeId, EMPTY);
      type.encodeInto(msg, frame.subarray(FRAME_HEADER_BYTES));
      return this.sendFrame(frame);
    }
    const payload = type.encode(msg);
    const total = frameLength(payload.length);
    if (total > this.spec.maxFrameBytes) return this.oversized(type.name, total);
    return this.sendFrame(writeFrame(this.arena.alloc(total), typeId, payload));
  }

  /** Hands a ready-made frame to the other side (stream transports and relays use this). */
  sendFrame(frame: Uint8Array): boolean {
    const accepted = this.peer === null ? 'closed' : this.peer.acceptFrame(frame);
    if (accepted === 'closed') return this.reject(new ChannelError('closed', this.spec.name, 'the receiving domain is not running'));
    if (accepted === 'full') return this.reject(new ChannelError('receiver-full', this.spec.name, 'the receiving inlet is full'));
    this.counters.sent++;
    return true;
  }

  /** Frames of `type` arriving on this side go to `to`, wrapped into its message union. */
  route<T, M>(type: MessageCodec<T>, to: ActorRef<M>, wrap: (msg: T) => M): this {
    const typeId = this.typeIds.get(type.name);
    if (typeId === undefined) throw new ChannelError('undeclared-type', this.spec.name, `cannot route undeclared type ${type.name}`);
    this.routes[typeId] = { deliver: (msg) => to.offer(wrap(msg as T)) };
    return this;
  }

  /**
   * Frames of `type` go wherever `deliver` puts them — e.g. to one of several actors by a field of the
   * message. It runs inside the inlet actor and must not throw; it returns whether the frame was taken.
   */
  routeWith<T>(type: MessageCodec<T>, deliver: (msg: T) => boolean): this {
    const typeId = this.typeIds.get(type.name);
    if (typeId === undefined) throw new ChannelError('undeclared-type', this.spec.name, `cannot route undeclared type ${type.name}`);
    this.routes[typeId] = { deliver: (msg) => deliver(msg as T) };
    return this;
  }

  onReject(listener: (error: ChannelError) => void): void {
    this.listeners.push(listener);
  }

  /** Runs inside the inlet actor: never throws, so a hostile peer cannot fault this domain. */
  private receiveFrame(bytes: Uint8Array): void {
    const typeId = checkFrame(this.spec.name, bytes, this.spec.maxFrameBytes);
    if (typeId instanceof ChannelError) {
      this.reject(typeId);
      return;
    }
    const codec = this.spec.types[typeId];
    if (codec === undefined) {
      this.reject(new ChannelError('undeclared-type', this.spec.name, `type id ${typeId} is not declared`));
      return;
    }
    const route = this.routes[typeId];
    if (route === undefined) {
      this.reject(new ChannelError('unrouted', this.spec.name, `no receiver for ${codec.name}`));
      return;
    }
    let msg: unknown;
    try {
      msg = codec.decode(bytes.subarray(FRAME_HEADER_BYTES));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      this.reject(new ChannelError('undecodable', this.spec.name, `${codec.name}: ${why}`));
      return;
    }
    if (!route.deliver(msg)) {
      this.reject(new ChannelError('receiver-full', this.spec.name, `receiver of ${codec.name} is full`));
      return;
    }
    this.counters.delivered++;
  }

  private oversized(typeName: string, total: number): false {
    return this.reject(
      new ChannelError('oversized', this.spec.name, `${typeName} frame of ${total} bytes exceeds the limit of ${this.spec.maxFrameBytes}`),
    );
  }

  private reject(error: ChannelError): false {
    this.counters[error.code]++;
    for (const listener of this.listeners) listener(error);
    return false;
  }
}

export interface Channel {
  readonly spec: ChannelSpec;
  readonly a: ChannelEndpoint;
  readonly b: ChannelEndpoint;
}

/**
 * Opens an in-process channel between two domains. It still encodes to bytes and decodes on the other
 * side, so no object crosses a domain; each side gets an inlet actor of `inletCapacity` frames.
 */
export function openChannel(spec: ChannelSpec, a: Supervisor, b: Supervisor, options: { inletCapacity?: number } = {}): Channel {
  const capacity = options.inletCapacity ?? 64;
  const ea = new ChannelEndpoint(spec, a, capacity, 'a');
  const eb = new ChannelEndpoint(spec, b, capacity, 'b');
  ea.connect(eb);
  eb.connect(ea);
  return { spec, a: ea, b: eb };
}
