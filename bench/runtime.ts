/**
 * Runtime benchmarks: message throughput through mailbox + scheduler, one-way burst and
 * ping-pong, beside a bare ring-buffer loop and a naive microtask mailbox measured in the same run;
 * and the channel round trip for a ~200-byte ticket request.
 */
import { ActorSystem, defineChannel, openChannel, rawCodec, type ActorRef, type MessageCodec } from '../runtime/index.ts';
import { TicketRequestSchema, create, lite, protoCodec, toBinary, type ProxyEnvelopeLite, type TicketRequest } from '../proto/index.ts';
import { CONTEXTS, cryptoBackend } from '../actors/crypto/index.ts';
import { seal } from '../actors/tickets/index.ts';
import { median, opsPerSecond, progress, table } from './stats.ts';

const BURST = 1024;

// --- Baseline 1: a bare ring buffer with a try/catch per message (no actors, no counters) ---------
class BareRing {
  private readonly slots = new Array<number>(BURST * 2).fill(0);
  private head = 0;
  private tail = 0;
  size = 0;
  push(v: number): void {
    this.slots[this.tail] = v;
    this.tail = (this.tail + 1) & (this.slots.length - 1);
    this.size++;
  }
  shift(): number {
    const v = this.slots[this.head]!;
    this.head = (this.head + 1) & (this.slots.length - 1);
    this.size--;
    return v;
  }
}

function bareOneWay(): number {
  const ring = new BareRing();
  let sum = 0;
  const handle = (v: number): void => {
    sum += v;
  };
  for (let i = 0; i < BURST; i++) ring.push(i);
  while (ring.size > 0) {
    try {
      handle(ring.shift());
    } catch {
      /* fault */
    }
  }
  return sum >= 0 ? BURST : 0;
}

function barePingPong(): number {
  const a = new BareRing();
  const b = new BareRing();
  let n = 0;
  a.push(BURST);
  while (a.size > 0 || b.size > 0) {
    try {
      if (a.size > 0) {
        const v = a.shift();
        n++;
        if (v > 0) b.push(v - 1);
      }
      if (b.size > 0) {
        const v = b.shift();
        n++;
        if (v > 0) a.push(v - 1);
      }
    } catch {
      /* fault */
    }
  }
  return n;
}

// --- Baseline 2: the naive mailbox most JS actor libraries use --------------------------------------
class NaiveActor {
  private readonly queue: number[] = [];
  private scheduled = false;
  constructor(private readonly handler: (v: number) => void) {}
  tell(v: number): void {
    this.queue.push(v);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.drain);
    }
  }
  private readonly drain = (): void => {
    this.scheduled = false;
    while (this.queue.length > 0) this.handler(this.queue.shift()!);
  };
}

async function naiveOneWay(): Promise<number> {
  let got = 0;
  const actor = new NaiveActor(() => void got++);
  for (let i = 0; i < BURST; i++) actor.tell(i);
  await Promise.resolve();
  await Promise.resolve();
  return got;
}

async function naivePingPong(): Promise<number> {
  let n = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const b: NaiveActor = new NaiveActor((v) => {
    n++;
    if (v > 0) a.tell(v - 1);
    else done();
  });
  const a: NaiveActor = new NaiveActor((v) => {
    n++;
    if (v > 0) b.tell(v - 1);
    else done();
  });
  a.tell(BURST);
  await finished;
  return n;
}

// --- dominion: mailbox + scheduler + supervision + counters ----------------------------------------
function dominionSystem() {
  const system = new ActorSystem({ drain: 'manual' });
  const d = system.domain('bench', { priority: 3 });
  d.start();
  return { system, d };
}

function makeDominionOneWay(): () => number {
  const { system, d } = dominionSystem();
  let sum = 0;
  const sink = d.spawn<number>({ name: 'sink', capacity: BURST, start: () => ({ receive: (v) => void (sum += v) }) });
  return () => {
    for (let i = 0; i < BURST; i++) sink.tell(i);
    system.runUntilIdle();
    return sum >= 0 ? BURST : 0;
  };
}

function makeDominionPingPong(): () => number {
  const { system, d } = dominionSystem();
  let n = 0;
  let pong: ActorRef<number> | undefined;
  const ping = d.spawn<number>({
    name: 'ping',
    capacity: 16,
    start: () => ({ receive: (v) => (n++, v > 0 && pong!.tell(v - 1)) }),
  });
  pong = d.spawn<number>({ name: 'pong', capacity: 16, start: () => ({ receive: (v) => (n++, v > 0 && ping.tell(v - 1)) }) });
  return () => {
    n = 0;
    ping.tell(BURST);
    system.runUntilIdle();
    return n;
  };
}

// --- Channel round trip: encode → frame → decode → handle → reply ----------------------------------
export function sampleTicketRequest(): TicketRequest {
  const digest = new Uint8Array(32).fill(7);
  return create(TicketRequestSchema, {
    deviceId: 'pi-0042',
    instance: 'sm:sensor',
    nonce: new Uint8Array(32).fill(1),
    uptimeMs: 3_600_000n,
    runtime: {
      report: {
        case: 'domain',
        value: {
          actors: [
            { name: 'sampler', codeDigest: digest, restarts: 0, mailboxCapacity: 64, mailboxHighWater: 3, mailboxDrops: 0n },
            { name: 'publisher', codeDigest: digest, restarts: 1, mailboxCapacity: 64, mailboxHighWater: 9, mailboxDrops: 0n },
          ],
          restarts: 1,
          memoryBytes: 48_000_000n,
          imageDigest: digest,
          boots: 2,
        },
      },
    },
  });
}

/**
 * mm ↔ hypervisor: `mm` sends a message, an actor in the hypervisor domain handles it and sends it
 * back. Every hop encodes to a frame and decodes on the other side.
 */
function makeChannelRoundTrip<T>(codec: MessageCodec<T>, msg: T): { run: () => number; frameBytes: number } {
  const system = new ActorSystem({ drain: 'manual' });
  const mm = system.domain('mm', { priority: 2 });
  const hyp = system.domain('hypervisor', { priority: 1 });
  const ch = openChannel(defineChannel({ name: 'tickets', types: [codec as MessageCodec<unknown>], maxFrameBytes: 8192 }), mm, hyp, {
    inletCapacity: 16,
  });
  mm.start();
  hyp.start();
  let replies = 0;
  const echo = hyp.spawn<T>({ name: 'echo', capacity: 16, start: () => ({ receive: (r) => void ch.b.send(codec, r) }) });
  const client = mm.spawn<T>({ name: 'client', capacity: 16, start: () => ({ receive: () => void replies++ }) });
  ch.b.route(codec, echo, (r) => r);
  ch.a.route(codec, client, (r) => r);
  return {
    frameBytes: codec.encode(msg).length + 6,
    run: () => {
      const before = replies;
      for (let i = 0; i < 8; i++) ch.a.send(codec, msg);
      system.runUntilIdle();
      return replies - before;
    },
  };
}

/** The frame that really crosses mm ↔ hypervisor on the ticket path: a signed request as opaque bytes. */
function signedEnvelopeFrame(): ProxyEnvelopeLite {
  const signer = cryptoBackend('node').signer(new Uint8Array(32).fill(9));
  return { instance: 'sm:sensor', envelope: seal(signer, CONTEXTS.ticketRequest, toBinary(TicketRequestSchema, sampleTicketRequest())) };
}

export interface RuntimeBenchOptions {
  runs?: number;
  seconds?: number;
}

export async function benchRuntime(opts: RuntimeBenchOptions = {}): Promise<string> {
  const runs = opts.runs ?? 5;
  const seconds = opts.seconds ?? 0.5;
  const cases: Array<[string, string, () => number | Promise<number>]> = [
    ['bare ring loop', 'one-way', bareOneWay],
    ['bare ring loop', 'ping-pong', barePingPong],
    ['naive microtask mailbox', 'one-way', naiveOneWay],
    ['naive microtask mailbox', 'ping-pong', naivePingPong],
    ['dominion mailbox + scheduler', 'one-way', makeDominionOneWay()],
    ['dominion mailbox + scheduler', 'ping-pong', makeDominionPingPong()],
  ];
  samples.clear();
  for (const [, , body] of cases) await opsPerSecond(0.2, body); // warm up every path first
  for (let r = 0; r < runs; r++) {
    progress(`runtime throughput run ${r + 1}/${runs}`);
    for (const [impl, pattern, body] of cases) {
      all(`${impl}|${pattern}`).push(await opsPerSecond(seconds, body));
    }
  }
  const rows = cases.map(([impl, pattern]) => {
    const m = median(all(`${impl}|${pattern}`));
    const bare = median(all(`bare ring loop|${pattern}`));
    const naive = median(all(`naive microtask mailbox|${pattern}`));
    return [impl, pattern, m, `${((m / bare) * 100).toFixed(0)} %`, `${(m / naive).toFixed(2)}×`] as const;
  });
  const throughput = table(['implementation', 'pattern', 'msg/s (median)', 'vs bare loop', 'vs naive'], rows);

  const channels: Array<[string, { run: () => number; frameBytes: number }]> = [
    [
      'TicketRequest as a protobuf-es message (encode + decode each way)',
      makeChannelRoundTrip(protoCodec(TicketRequestSchema, 4096, { copyInput: false }), sampleTicketRequest()),
    ],
    [
      'ProxyEnvelope (lite codec) carrying the signed TicketRequest — the ticket path',
      makeChannelRoundTrip(lite.proxyEnvelope, signedEnvelopeFrame()),
    ],
    [
      'opaque bytes (raw codec), same size',
      makeChannelRoundTrip(rawCodec('raw'), new Uint8Array(lite.proxyEnvelope.encode(signedEnvelopeFrame()).length)),
    ],
  ];
  const channelRows = [];
  for (const [name, channel] of channels) {
    for (let i = 0; i < 2000; i++) channel.run();
    const rtts: number[] = [];
    for (let r = 0; r < runs; r++) {
      progress(`channel round trip (${name}) run ${r + 1}/${runs}`);
      rtts.push(await opsPerSecond(seconds, channel.run));
    }
    const perRoundTripUs = 1e6 / median(rtts);
    channelRows.push([name, channel.frameBytes, median(rtts), perRoundTripUs.toFixed(2), (perRoundTripUs / 2).toFixed(2)]);
  }
  const channelTable = table(
    ['in-process channel, mm → hypervisor → mm', 'frame bytes', 'round trips/s (median)', 'µs per round trip', 'µs per frame'],
    channelRows,
  );
  return `${throughput}\n\n${channelTable}\n\n(${runs} runs of ${seconds} s each, median; burst ${BURST} messages)`;
}

const samples = new Map<string, number[]>();
function all(key: string): number[] {
  let s = samples.get(key);
  if (!s) samples.set(key, (s = []));
  return s;
}
