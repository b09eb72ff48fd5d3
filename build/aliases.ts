/**
 * Packages a board never needs, replaced at bundle time (esbuild `alias`) by small stand-ins in
 * build/shims/. They only ever reach the `mm` bundle (MQTT.js is the only thing that imports them).
 * A board speaks MQTT over plain TCP (actors/mqtt/connect.ts refuses any other scheme), logs
 * nothing through `debug`, and runs on Node, not in a browser.
 *
 * Measured on MQTT.js 5.16 alone (a bundle that only constructs an MqttClient), minified, gzip -9:
 *
 *   nothing aliased                          107.7 KB
 *   + ws, socks, debug                        73.4 KB
 *   + worker-timers                           63.8 KB
 *   + readable-stream → node:stream           36.5 KB
 */
import { join } from 'node:path';

export interface Alias {
  readonly pkg: string;
  /** File under build/shims/. */
  readonly shim: string;
  readonly why: string;
}

export const ALIASES: readonly Alias[] = [
  { pkg: 'ws', shim: 'empty.cjs', why: 'WebSocket transport: boards speak MQTT over TCP only' },
  { pkg: 'socks', shim: 'empty.cjs', why: 'SOCKS proxy transport: boards speak MQTT over TCP only' },
  { pkg: 'debug', shim: 'debug.cjs', why: 'debug logging: always off on a board' },
  { pkg: 'worker-timers', shim: 'worker-timers.cjs', why: 'browser background-tab timers: Node keeps its own' },
  { pkg: 'readable-stream', shim: 'readable-stream.cjs', why: "userland copy of Node's streams: Node has them built in" },
];

/** The esbuild `alias` option: package name → absolute shim path. */
export function aliasOption(root: string): Record<string, string> {
  return Object.fromEntries(ALIASES.map((a) => [a.pkg, join(root, 'build', 'shims', a.shim)]));
}
