/**
 * Length-prefixed frames, the only thing that crosses a domain boundary:
 *
 *   u32 big-endian body length | u16 big-endian type id | payload
 *
 * The body length counts the type id and payload. A whole frame (header included) never exceeds the
 * channel's `maxFrameBytes`; a reader rejects an oversized length before buffering a byte of its body.
 */
import { ChannelError } from './channel-error.ts';

export const FRAME_HEADER_BYTES = 6;
const LENGTH_BYTES = 4;

export function frameLength(payloadBytes: number): number {
  return FRAME_HEADER_BYTES + payloadBytes;
}

/** Writes a frame into `out` (exactly `frameLength(payload.length)` bytes, e.g. from a `FrameArena`). */
export function writeFrame(out: Uint8Array, typeId: number, payload: Uint8Array): Uint8Array {
  const body = out.length - LENGTH_BYTES;
  out[0] = body >>> 24;
  out[1] = (body >>> 16) & 0xff;
  out[2] = (body >>> 8) & 0xff;
  out[3] = body & 0xff;
  out[4] = typeId >>> 8;
  out[5] = typeId & 0xff;
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function encodeFrame(channel: string, typeId: number, payload: Uint8Array, maxFrameBytes: number): Uint8Array {
  const total = frameLength(payload.length);
  if (total > maxFrameBytes) {
    throw new ChannelError('oversized', channel, `frame of ${total} bytes exceeds the limit of ${maxFrameBytes}`);
  }
  return writeFrame(new Uint8Array(total), typeId, payload);
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * Checks one complete frame and returns its type id, or a typed error instead of throwing.
 * The payload is `frame.subarray(FRAME_HEADER_BYTES)`.
 */
export function checkFrame(channel: string, frame: Uint8Array, maxFrameBytes: number): number | ChannelError {
  if (frame.length > maxFrameBytes) {
    return new ChannelError('oversized', channel, `frame of ${frame.length} bytes exceeds the limit of ${maxFrameBytes}`);
  }
  if (frame.length < FRAME_HEADER_BYTES) {
    return new ChannelError('truncated', channel, `frame of ${frame.length} bytes is shorter than its ${FRAME_HEADER_BYTES}-byte header`);
  }
  const declared = readU32(frame, 0) + LENGTH_BYTES;
  if (declared !== frame.length) {
    return new ChannelError('truncated', channel, `frame declares ${declared} bytes but carries ${frame.length}`);
  }
  return (frame[LENGTH_BYTES]! << 8) | frame[LENGTH_BYTES + 1]!;
}

/**
 * Reassembles frames from a byte stream (socket, pipe). An oversized frame is reported and its body
 * skipped without being buffered, so the stream stays in step and the channel keeps working.
 */
export class FrameReader {
  private pending: Uint8Array = new Uint8Array(0);
  private skip = 0;

  constructor(
    private readonly channel: string,
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Uint8Array) => void,
    private readonly onError: (error: ChannelError) => void,
  ) {}

  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, data.length);
      this.skip -= n;
      data = data.subarray(n);
    }
    if (this.pending.length > 0) {
      const joined = new Uint8Array(this.pending.length + data.length);
      joined.set(this.pending);
      joined.set(data, this.pending.length);
      data = joined;
    }
    let offset = 0;
    while (data.length - offset >= LENGTH_BYTES) {
      const total = readU32(data, offset) + LENGTH_BYTES;
      if (total > this.maxFrameBytes || total < FRAME_HEADER_BYTES) {
        const code = total < FRAME_HEADER_BYTES ? 'truncated' : 'oversized';
        this.onError(new ChannelError(code, this.channel, `stream frame declares ${total} bytes (limit ${this.maxFrameBytes})`));
        const available = data.length - offset;
        this.skip = Math.max(0, total - available);
        offset += Math.min(total, available);
        continue;
      }
      if (data.length - offset < total) break;
      this.onFrame(data.slice(offset, offset + total));
      offset += total;
    }
    this.pending = data.slice(offset);
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.pending.length;
  }
}
