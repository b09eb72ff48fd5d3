/**
 * A channel end whose other side lives in another process: frames go out as bytes on a stream (a Unix
 * socket in `process` placement) and come back through a `FrameReader`, which bounds every frame by
 * the channel's limit before buffering its body. The frame format already carries its own length,
 * so the wire is just frames back to back.
 *
 * Backpressure: when more than `maxBufferedBytes` wait unsent in the stream, a send is refused as
 * `receiver-full` (counted by the sender, like a full inlet in-process) instead of queueing without
 * bound behind a slow or stopped peer.
 */
import type { ChannelEndpoint, FramePeer } from './channel.ts';
import { ChannelError } from './channel-error.ts';
import { FrameReader } from './frame.ts';

/** The part of a Node stream (net.Socket) a link uses. */
export interface ByteStream {
  write(bytes: Uint8Array): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

export interface StreamLinkOptions {
  /** Unsent bytes above which sends are refused as `receiver-full` (default 1 MiB). */
  readonly maxBufferedBytes?: number;
}

export interface StreamLink {
  /** Frames the reader rejected (oversized or truncated), also counted on the endpoint. */
  readonly framingErrors: () => number;
  /** True once the stream closed: sends are refused as `closed`. */
  readonly closed: () => boolean;
}

/** Connects `endpoint` to a peer process over `stream`; frames arriving are offered to its inlet. */
export function linkStream(endpoint: ChannelEndpoint, stream: ByteStream, options: StreamLinkOptions = {}): StreamLink {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  let closed = false;
  let framingErrors = 0;
  const peer: FramePeer = {
    acceptFrame(frame) {
      if (closed || stream.destroyed) return 'closed';
      if (stream.writableLength > maxBuffered) return 'full';
      // Frames come from never-recycled arena slabs (runtime/arena.ts), so the view can be queued as is.
      stream.write(frame);
      return 'ok';
    },
  };
  endpoint.connect(peer);
  const reader = new FrameReader(
    endpoint.spec.name,
    endpoint.spec.maxFrameBytes,
    (frame) => void endpoint.receive(frame),
    (error: ChannelError) => {
      framingErrors++;
      endpoint.report(error);
    },
  );
  stream.on('data', (chunk) => reader.push(chunk));
  stream.on('close', () => {
    closed = true;
  });
  return { framingErrors: () => framingErrors, closed: () => closed };
}
