/**
 * What the hostile proxy does to one device in the resilience bench: a plan (bench/hostile) and, for
 * the blackhole, a schedule. Everything is derived from the device's timing, so the same strategies
 * mean the same thing at any interval.
 */
import { replyTopicOf, type HostilePlan } from '../hostile/index.ts';
import type { ResilienceTiming } from './timing.ts';

export interface Blackhole {
  /** How long each blackhole lasts. */
  readonly ms: number;
  /** One blackhole starts every `everyMs`, the first `everyMs − ms` after the device's first ticket. */
  readonly everyMs: number;
}

export interface Strategy {
  readonly name: string;
  /** For the table: what the proxy does, in numbers. */
  readonly what: string;
  readonly plan: HostilePlan;
  readonly blackhole?: Blackhole;
}

const both = (p: HostilePlan['toBroker']): HostilePlan => ({ toBroker: p, toClient: p });

/** Every strategy; `deviceIdOf` names the device each one runs (the injection matches its reply topics). */
export function strategies(t: ResilienceTiming, deviceIdOf: (strategy: string) => string): Strategy[] {
  const rt = t.device.replyTimeoutMs;
  const near = { ms: Math.round(0.8 * rt), jitterMs: Math.round(0.4 * rt) };
  const over = 2 * rt;
  // Longer than the bound, so the device must reset once; short enough that the reboot's first
  // ticket comes well inside its initial timeout once the network is back.
  const blackholeMs = 2 * t.boundMs;
  return [
    { name: 'baseline', what: 'nothing (clean proxy)', plan: {} },
    ...[1, 5, 20].map((pct) => ({ name: `loss-${pct}`, what: `drop ${pct} % of PUBLISHes each way`, plan: both({ drop: pct / 100 }) })),
    {
      name: 'delay-near',
      what: `replies +${near.ms}–${near.ms + near.jitterMs} ms (reply timeout ${rt} ms)`,
      plan: { toClient: { delay: near } },
    },
    { name: 'delay-over', what: `replies +${over} ms (2 × reply timeout)`, plan: { toClient: { delay: { ms: over } } } },
    { name: 'duplicate', what: 'every PUBLISH twice, each way', plan: both({ duplicate: 1 }) },
    {
      name: 'reorder',
      what: '25 % of PUBLISHes held behind the next, each way',
      plan: both({ reorder: 0.25, reorderMaxHoldMs: t.device.intervalMs }),
    },
    {
      name: 'stale-inject',
      what: 'the previous genuine reply re-sent ahead of each reply',
      plan: { toClient: { inject: { topic: replyTopicOf(deviceIdOf('stale-inject')) } } },
    },
    {
      name: 'blackhole',
      what: `all packets dropped for ${blackholeMs} ms (2 × D) every ${blackholeEvery(t, blackholeMs) / 1000} s`,
      plan: {},
      blackhole: { ms: blackholeMs, everyMs: blackholeEvery(t, blackholeMs) },
    },
  ];
}

/** Room for the blackhole, the reset, the reboot and a few clean rounds before the next one. */
function blackholeEvery(t: ResilienceTiming, ms: number): number {
  return ms + t.device.bootMs + t.device.initialTimeoutMs + 2 * t.boundMs;
}

export const STRATEGY_NAMES = [
  'baseline',
  'loss-1',
  'loss-5',
  'loss-20',
  'delay-near',
  'delay-over',
  'duplicate',
  'reorder',
  'stale-inject',
  'blackhole',
] as const;
