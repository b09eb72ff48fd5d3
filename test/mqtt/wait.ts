import net from 'node:net';
/**
 * Bounded waits for network tests: every await on an event has a deadline that fails the test with
 * a message naming what did not happen. No sleeps.
 */
import type { IPublishPacket, MqttClient } from 'mqtt';

/**
 * Resolves when `start` calls its resolver; rejects after `ms`. `start` may return a cleanup. `what`
 * may be a function, read only on timeout, so the message can say how far things got.
 */
export function within<T>(
  ms: number,
  what: string | (() => string),
  start: (resolve: (value: T) => void) => (() => void) | void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let cleanup: (() => void) | void = undefined;
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      cleanup?.();
      reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`));
    }, ms);
    cleanup = start((value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // start() may resolve synchronously, before cleanup is assigned.
      queueMicrotask(() => cleanup?.());
      resolve(value);
    });
  });
}

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly packet: IPublishPacket;
}

/** The next message on `client` that satisfies `match`. */
export function nextMessage(client: MqttClient, what: string, match: (m: Received) => boolean, ms = 5000): Promise<Received> {
  return within<Received>(ms, what, (resolve) => {
    const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
      const m = { topic, payload, packet };
      if (match(m)) resolve(m);
    };
    client.on('message', onMessage);
    return () => client.off('message', onMessage);
  });
}

/** Collects messages that satisfy `match` until `count` have arrived. */
export function messages(
  client: MqttClient,
  what: string,
  count: number,
  match: (m: Received) => boolean,
  ms = 10_000,
): Promise<Received[]> {
  const got: Received[] = [];
  return within<Received[]>(
    ms,
    () => `${count} × ${what} (got ${got.length})`,
    (resolve) => {
      const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
        const m = { topic, payload, packet };
        if (match(m)) got.push(m);
        if (got.length === count) resolve(got);
      };
      client.on('message', onMessage);
      return () => client.off('message', onMessage);
    },
  );
}

/**
 * Records every `setNoDelay` call (Node cannot read TCP_NODELAY back from a socket) until `restore`
 * runs; pass the test runner's `after` to restore it at the end of the file.
 */
export function watchNoDelay(restore: (fn: () => void) => void): Map<net.Socket, boolean> {
  const seen = new Map<net.Socket, boolean>();
  const original = net.Socket.prototype.setNoDelay;
  net.Socket.prototype.setNoDelay = function (this: net.Socket, enable?: boolean) {
    seen.set(this, enable ?? true);
    return original.call(this, enable);
  };
  restore(() => {
    net.Socket.prototype.setNoDelay = original;
  });
  return seen;
}
