/**
 * The hypervisor's switch between `mm` and one service (`process` placement): each VM has a socket to
 * the hypervisor only, and the hypervisor passes whole frames between them. Frames are checked
 * against the channel's limit on the way (a `FrameReader` never buffers an oversized body), and
 * either side can be replaced when its VM reboots without the other noticing: a frame is never
 * split across two incarnations of a VM.
 */
import type { Socket } from 'node:net';
import { FrameReader } from '../../../runtime/index.ts';

export interface RelayCounters {
  relayed: number;
  /** Frames dropped: no peer running, or more than `maxBufferedBytes` waiting for it. */
  dropped: number;
  /** Frames the readers refused (oversized, truncated). */
  framingErrors: number;
}

export class FrameRelay {
  readonly counters: RelayCounters = { relayed: 0, dropped: 0, framingErrors: 0 };
  private readonly sides: [Socket | null, Socket | null] = [null, null];
  /**
   * What the service sends goes here instead of straight to `mm`: the hypervisor's sealer, which hands
   * the sealed frames on through `toMm` (docs/ARCHITECTURE.md §3.1). None: relayed as they are.
   */
  private outbound: ((frame: Uint8Array) => void) | undefined;

  constructor(
    private readonly channel: string,
    private readonly maxFrameBytes: number,
    private readonly maxBufferedBytes = 1024 * 1024,
  ) {}

  /** Frames from the service go through `seal` (once each), which passes what `mm` gets to `toMm`. */
  sealWith(seal: (frame: Uint8Array) => void): void {
    this.outbound = seal;
  }

  /** Hands a frame to `mm`'s side: what the sealer sends. */
  toMm(frame: Uint8Array): 'ok' | 'closed' | 'full' {
    return this.write(0, frame);
  }

  /** Side 0 is `mm`'s socket for this service, side 1 the service's own. */
  attach(side: 0 | 1, socket: Socket): void {
    this.sides[side] = socket;
    const reader = new FrameReader(
      this.channel,
      this.maxFrameBytes,
      (frame) => this.pass(socket, side === 0 ? 1 : 0, frame),
      () => void this.counters.framingErrors++,
    );
    socket.on('data', (chunk: Uint8Array) => reader.push(chunk));
    socket.on('close', () => {
      if (this.sides[side] === socket) this.sides[side] = null;
    });
  }

  private pass(from: Socket, to: 0 | 1, frame: Uint8Array): void {
    if (this.sides[to === 0 ? 1 : 0] !== from) return; // a replaced incarnation's late bytes
    if (to === 0 && this.outbound !== undefined) this.outbound(frame);
    else this.write(to, frame);
  }

  private write(to: 0 | 1, frame: Uint8Array): 'ok' | 'closed' | 'full' {
    const target = this.sides[to];
    if (target === null || target.destroyed || target.writableLength > this.maxBufferedBytes) {
      this.counters.dropped++;
      return target === null || target.destroyed ? 'closed' : 'full';
    }
    target.write(frame);
    this.counters.relayed++;
    return 'ok';
  }
}
