/**
 * Bump allocation of frame buffers from slabs that are never reused. A fresh off-heap Uint8Array costs
 * ~370 ns on Node 20, a view into a slab ~60 ns, and frames are the hot path between domains.
 *
 * Safety: a slab is only ever carved forward, never recycled, so a decoded message holding a view
 * (protobuf `bytes` fields are views) can never see its bytes overwritten. Each sending endpoint has its
 * own arena, so a slab only holds frames of one direction of one channel — frames its receiver gets anyway.
 *
 * The codecs (proto/lite-wire.ts, proto/bounded.ts) and the signature context (actors/crypto/context.ts)
 * carve their short-lived outputs from arenas of their own for the same reason: on this VM a fresh
 * 150-byte Uint8Array cost 3 µs in a hub's hot loop (allocation and the GC's tracking of its backing
 * store), a view 0.06 µs, and a hub made half a dozen a request (docs/ARCHITECTURE.md §7).
 * A view keeps its whole slab alive: what is kept for long should be copied out.
 */
export class FrameArena {
  private slab: Uint8Array;
  private offset = 0;

  constructor(private readonly slabBytes = 16 * 1024) {
    this.slab = new Uint8Array(slabBytes);
  }

  alloc(n: number): Uint8Array {
    if (n > this.slabBytes >> 2) return new Uint8Array(n); // big frames get their own buffer
    if (this.offset + n > this.slabBytes) {
      this.slab = new Uint8Array(this.slabBytes);
      this.offset = 0;
    }
    const view = this.slab.subarray(this.offset, this.offset + n);
    this.offset += (n + 7) & ~7;
    return view;
  }

  /** A copy of `bytes` in the arena. */
  copy(bytes: Uint8Array): Uint8Array {
    const out = this.alloc(bytes.byteLength);
    out.set(bytes);
    return out;
  }
}
