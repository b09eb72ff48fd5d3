/**
 * A hostile MQTT proxy: a TCP listener that forwards every connection to a real broker and acts on
 * whole MQTT packets in both directions (client → broker, broker → client). On PUBLISH packets it can
 * drop, delay (fixed + jitter), duplicate, reorder, and inject a stale copy — a genuine message
 * captured earlier on a matching topic, re-sent just ahead of each new one (for dominion: a validly
 * signed but stale ticket, docs/ARCHITECTURE.md §2.2). A blackhole drops every packet in both
 * directions for a while and keeps the TCP connections open. Other packets (CONNECT, SUBSCRIBE,
 * PUBACK, PINGREQ …) pass unchanged, except in a blackhole.
 *
 * Deterministic given a seed: each connection and direction has its own PRNG stream, and every
 * PUBLISH draws the same number of values whatever the plan, so the n-th PUBLISH of the k-th
 * connection meets the same fate in every run.
 *
 * Two choices keep the brokers' and clients' session state sound, so that loss looks like loss and
 * not like a stuck session: a dropped QoS 1 PUBLISH is acknowledged (PUBACK) to its sender on the
 * receiver's behalf (`ackDropped`, default on; without it the broker's in-flight window fills and it
 * stops delivering), and the copies the proxy adds (duplicates, injections) go out at QoS 0. A
 * blackhole acknowledges nothing. A connection opened during a blackhole is held (its bytes stay
 * unread, as a TCP connect would retry) until the blackhole ends.
 */
import net from 'node:net';
import { encodePuback, FramingError, PacketSplitter, packetType, parsePublish, publishAtQos0, PUBLISH } from './framing.ts';
import { deriveSeed, seededRandom, type Random } from './prng.ts';

export type Direction = 'toBroker' | 'toClient';

export interface StaleInjection {
  /** Which topics to capture and inject on. */
  readonly topic: (topic: string) => boolean;
  /** Per genuine PUBLISH on such a topic: the chance a stale copy goes ahead of it. Default 1. */
  readonly probability?: number;
  /** How many genuine messages back the injected one is (1 = the previous one on that topic). Default 1. */
  readonly depth?: number;
}

/** What happens to PUBLISH packets in one direction. Probabilities are per PUBLISH, 0 … 1. */
export interface DirectionPlan {
  readonly drop?: number;
  /** Hold each PUBLISH `ms` + uniform [0, `jitterMs`) before it goes on (with `probability`, default 1). */
  readonly delay?: { readonly ms: number; readonly jitterMs?: number; readonly probability?: number };
  /** Send a QoS 0 copy right after the PUBLISH. */
  readonly duplicate?: number;
  /** Hold the PUBLISH until the next one in this direction has gone (at most `reorderMaxHoldMs`). */
  readonly reorder?: number;
  /** Default 1000. */
  readonly reorderMaxHoldMs?: number;
  readonly inject?: StaleInjection;
}

export interface HostilePlan {
  readonly toBroker?: DirectionPlan;
  readonly toClient?: DirectionPlan;
}

export interface HostileProxyOptions {
  /** The real broker. */
  readonly target: { readonly host: string; readonly port: number };
  /** Where to listen; default 127.0.0.1 on a free port. */
  readonly host?: string;
  readonly port?: number;
  /** Default 1. */
  readonly seed?: number;
  readonly plan?: HostilePlan;
  /** Acknowledge dropped QoS 1 PUBLISHes to their sender (default true; see above). */
  readonly ackDropped?: boolean;
  /** A packet larger than this closes its connection (default 1 MiB). */
  readonly maxPacketBytes?: number;
}

export interface DirectionCounters {
  /** Whole packets received from the sender, any type. */
  packets: number;
  publishes: number;
  /** Packets written to the receiver, copies included. */
  written: number;
  dropped: number;
  /** PUBACKs sent to the sender for dropped QoS 1 PUBLISHes. */
  ackedOnBehalf: number;
  delayed: number;
  duplicated: number;
  reordered: number;
  injected: number;
  /** Packets of any type swallowed by a blackhole. */
  blackholed: number;
}

export interface ProxyCounters {
  connections: number;
  /** Connections closed because a stream did not frame as MQTT. */
  framingErrors: number;
  /** Connections the broker refused or dropped. */
  upstreamErrors: number;
  readonly toBroker: DirectionCounters;
  readonly toClient: DirectionCounters;
}

const newDirectionCounters = (): DirectionCounters => ({
  packets: 0,
  publishes: 0,
  written: 0,
  dropped: 0,
  ackedOnBehalf: 0,
  delayed: 0,
  duplicated: 0,
  reordered: 0,
  injected: 0,
  blackholed: 0,
});

export class HostileProxy {
  readonly counters: ProxyCounters = {
    connections: 0,
    framingErrors: 0,
    upstreamErrors: 0,
    toBroker: newDirectionCounters(),
    toClient: newDirectionCounters(),
  };
  private plan: HostilePlan;
  private dark = false;
  private darkTimer: NodeJS.Timeout | undefined;
  private readonly waitingForLight: Array<() => void> = [];
  /** Genuine messages seen on injection topics, oldest first, as QoS 0 copies; shared by all connections. */
  private readonly captured = new Map<string, Buffer[]>();
  private readonly pipes = new Set<Pipe>();

  private constructor(
    private readonly server: net.Server,
    private readonly o: HostileProxyOptions,
    readonly port: number,
  ) {
    this.plan = o.plan ?? {};
  }

  static async start(o: HostileProxyOptions): Promise<HostileProxy> {
    const server = net.createServer({ noDelay: true });
    const host = o.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, host, () => resolve());
    });
    const proxy = new HostileProxy(server, o, (server.address() as net.AddressInfo).port);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  /** `mqtt://host:port` of the listener. */
  get url(): string {
    return `mqtt://${this.o.host ?? '127.0.0.1'}:${this.port}`;
  }

  /** Replaces the plan; takes effect with the next PUBLISH (the PRNG streams go on). */
  setPlan(plan: HostilePlan): void {
    this.plan = plan;
  }

  get blackholed(): boolean {
    return this.dark;
  }

  /** Starts (`true`) or ends (`false`) a blackhole. */
  blackhole(on: boolean): void {
    clearTimeout(this.darkTimer);
    this.darkTimer = undefined;
    this.dark = on;
    if (!on) for (const release of this.waitingForLight.splice(0)) release();
  }

  /** A blackhole for `ms`; resolves when it ends. */
  blackholeFor(ms: number): Promise<void> {
    this.blackhole(true);
    return new Promise<void>((resolve) => {
      this.waitingForLight.push(resolve);
      this.darkTimer = setTimeout(() => this.blackhole(false), ms);
    });
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.blackhole(false);
    for (const pipe of this.pipes) pipe.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const index = this.counters.connections++;
    client.setNoDelay(true);
    client.on('error', () => {});
    const open = (): void => {
      if (client.destroyed) return;
      const pipe = new Pipe(this, index, client, this.o);
      this.pipes.add(pipe);
      pipe.onClose = () => this.pipes.delete(pipe);
    };
    if (this.dark) this.waitingForLight.push(open);
    else open();
  }

  /** @internal for `Pipe` */
  planFor(direction: Direction): DirectionPlan {
    return this.plan[direction] ?? {};
  }

  /** @internal for `Pipe`: the stale copy to inject before `fresh` (if any), and `fresh` remembered. */
  capture(topic: string, fresh: Buffer, depth: number): Buffer | undefined {
    const list = this.captured.get(topic) ?? [];
    const stale = list.length >= depth ? list[list.length - depth] : undefined;
    list.push(fresh);
    if (list.length > depth) list.shift();
    this.captured.set(topic, list);
    return stale;
  }
}

/** One client connection and its connection to the broker. */
class Pipe {
  onClose: () => void = () => {};
  private readonly upstream: net.Socket;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    readonly proxy: HostileProxy,
    index: number,
    readonly client: net.Socket,
    o: HostileProxyOptions,
  ) {
    this.upstream = net.createConnection({ host: o.target.host, port: o.target.port });
    this.upstream.setNoDelay(true);
    const seed = o.seed ?? 1;
    // Each lane reads its socket from here on; both stop when the sockets close.
    new Lane(this, 'toBroker', seededRandom(deriveSeed(seed, index, 0)), client, this.upstream, o);
    new Lane(this, 'toClient', seededRandom(deriveSeed(seed, index, 1)), this.upstream, client, o);
    this.upstream.on('error', () => {
      proxy.counters.upstreamErrors++;
      this.close();
    });
    client.on('close', () => this.close());
    this.upstream.on('close', () => this.close());
  }

  /** A timer that dies with the connection. */
  later(ms: number, run: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) run();
    }, ms);
    this.timers.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  framingError(): void {
    this.proxy.counters.framingErrors++;
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.client.destroy();
    this.upstream.destroy();
    this.onClose();
  }
}

/** One direction of a connection: frames what `from` sends, decides, writes to `to`. */
class Lane {
  private readonly splitter: PacketSplitter;
  private readonly counters: DirectionCounters;
  private held: { packets: Buffer[]; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly pipe: Pipe,
    private readonly direction: Direction,
    private readonly random: Random,
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly o: HostileProxyOptions,
  ) {
    this.splitter = new PacketSplitter(o.maxPacketBytes);
    this.counters = pipe.proxy.counters[direction];
    from.on('data', (chunk: Buffer) => {
      let packets: Buffer[];
      try {
        packets = this.splitter.push(chunk);
      } catch (error) {
        if (error instanceof FramingError) return pipe.framingError();
        throw error;
      }
      for (const packet of packets) this.packet(packet);
    });
  }

  private packet(packet: Buffer): void {
    this.counters.packets++;
    if (packetType(packet) !== PUBLISH) return this.write([packet]);
    this.counters.publishes++;
    const plan = this.pipe.proxy.planFor(this.direction);
    // Always the same draws per PUBLISH, whatever the plan: decisions depend on the packet's position only.
    const [rDrop, rDelay, rJitter, rDuplicate, rReorder, rInject] = [0, 0, 0, 0, 0, 0].map(() => this.random()) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    let head;
    try {
      head = parsePublish(packet);
    } catch (error) {
      if (error instanceof FramingError) return this.pipe.framingError();
      throw error;
    }
    const out: Buffer[] = [];
    if (plan.inject !== undefined && plan.inject.topic(head.topic)) {
      const stale = this.pipe.proxy.capture(head.topic, publishAtQos0(packet, head), Math.max(1, plan.inject.depth ?? 1));
      if (stale !== undefined && rInject < (plan.inject.probability ?? 1)) {
        this.counters.injected++;
        out.push(stale);
      }
    }
    if (rDrop < (plan.drop ?? 0)) {
      this.counters.dropped++;
      if (head.qos === 1 && head.packetId !== undefined && this.o.ackDropped !== false) {
        this.counters.ackedOnBehalf++;
        this.writeTo(this.from, encodePuback(head.packetId));
      }
      if (out.length > 0) this.deliver(out, rReorder, plan);
      return;
    }
    out.push(packet);
    if (rDuplicate < (plan.duplicate ?? 0)) {
      this.counters.duplicated++;
      out.push(publishAtQos0(packet, head));
    }
    const delay = plan.delay;
    if (delay !== undefined && rDelay < (delay.probability ?? 1) && delay.ms + (delay.jitterMs ?? 0) > 0) {
      this.counters.delayed++;
      this.pipe.later(delay.ms + rJitter * (delay.jitterMs ?? 0), () => this.deliver(out, rReorder, plan));
      return;
    }
    this.deliver(out, rReorder, plan);
  }

  private deliver(packets: Buffer[], rReorder: number, plan: DirectionPlan): void {
    if (this.held === undefined && rReorder < (plan.reorder ?? 0)) {
      this.counters.reordered++;
      const timer = this.pipe.later(plan.reorderMaxHoldMs ?? 1000, () => this.releaseHeld());
      this.held = { packets, timer };
      return;
    }
    this.write(packets);
    this.releaseHeld();
  }

  private releaseHeld(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.pipe.cancel(held.timer);
    this.write(held.packets);
  }

  private write(packets: Buffer[]): void {
    for (const p of packets) {
      if (this.writeTo(this.to, p)) this.counters.written++;
    }
  }

  /** False when a blackhole swallowed it (or the socket is gone). */
  private writeTo(socket: net.Socket, packet: Buffer): boolean {
    if (this.pipe.proxy.blackholed) {
      this.counters.blackholed++;
      return false;
    }
    if (socket.destroyed) return false;
    socket.write(packet);
    return true;
  }
}
