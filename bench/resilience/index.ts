/**
 * Resilience of the ticket loop on a lossy or hostile network (`npm run bench -- resilience`): for
 * each strategy a device of its own behind a hostile MQTT proxy (bench/hostile), all strategies at
 * once against one real broker, each for the same minutes at the same interval; a clean proxy is the
 * baseline in the same run. Reports what a user needs to choose an interval: device resets (and VM
 * restarts) per hour, and how close the accepted tickets came to the bound (slack).
 */
import { cpus, loadavg } from 'node:os';
import { RealClock } from '../../runtime/index.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../actors/mqtt/index.ts';
import { startBenchMosquitto, type BenchMosquitto } from '../mosquitto.ts';
import { median, progress, table } from '../stats.ts';
import { startStrategy, type StrategyRun } from './run.ts';
import { STRATEGY_NAMES, strategies } from './strategies.ts';
import { resilienceTiming, type ResilienceTiming } from './timing.ts';

export { STRATEGY_NAMES } from './strategies.ts';

export interface ResilienceBenchOptions {
  /** Length of the run (every strategy at once). Default 2. */
  readonly minutes?: number;
  /** Ticket interval per instance, ms. Default 1000. */
  readonly intervalMs?: number;
  /** Strategies to run; default all. The baseline always runs. */
  readonly only?: readonly string[];
  /** Seed of the proxies' PRNGs (each strategy's proxy gets seed + its index). Default 1. */
  readonly seed?: number;
  /** Whether the hubs refuse a nonce they answered before (`guard`, as a SQLite hub; default) or answer it again (`none`). */
  readonly hubReplay?: 'guard' | 'none';
  /** A broker to use; default a private Mosquitto (set_tcp_nodelay), else an embedded Aedes. */
  readonly brokerUrl?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ms0 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(0));
const clockTime = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}`;

export async function benchResilience(o: ResilienceBenchOptions = {}): Promise<string> {
  const minutes = o.minutes ?? 2;
  const intervalMs = o.intervalMs ?? 1000;
  const seed = o.seed ?? 1;
  const hubReplay = o.hubReplay ?? 'guard';
  const timing = resilienceTiming(intervalMs);
  const idSuffix = `-${process.pid}`;
  const deviceIdOf = (name: string) => `resil-${name}${idSuffix}`;
  const all = strategies(timing, deviceIdOf);
  const wanted = new Set(['baseline', ...(o.only ?? STRATEGY_NAMES)]);
  const chosen = all.filter((s) => wanted.has(s.name));
  const load0 = loadavg()[0]!;

  let mosquitto: BenchMosquitto | undefined;
  let aedes: EmbeddedBroker | undefined;
  let brokerName: string;
  let brokerUrl = o.brokerUrl;
  if (brokerUrl !== undefined) brokerName = `the broker at ${brokerUrl}`;
  else if ((mosquitto = await startBenchMosquitto()) !== undefined) {
    brokerUrl = mosquitto.url;
    brokerName = 'a private Mosquitto (set_tcp_nodelay)';
  } else {
    aedes = await startEmbeddedBroker({ port: 0 });
    brokerUrl = aedes.url;
    brokerName = 'an embedded Aedes (MQTT 3.1.1)';
  }

  const clock = new RealClock();
  const durationMs = minutes * 60_000;
  const runs: StrategyRun[] = [];
  try {
    progress(
      `resilience: ${chosen.length} devices (one per strategy) for ${minutes} min at interval ${intervalMs} ms, deferral ${timing.deferralMs} ms, bound D ${timing.boundMs} ms, over ${brokerName}`,
    );
    const endsAt = clock.now() + durationMs + 5000; // generous: the rigs start one after another
    for (const [i, strategy] of chosen.entries()) {
      runs.push(
        await startStrategy({
          strategy,
          deviceId: deviceIdOf(strategy.name),
          idSuffix: `-${strategy.name}${idSuffix}`,
          brokerUrl,
          timing,
          seed: seed + i,
          hubReplay,
          clock,
          endsAt,
          onReset: (r) =>
            progress(
              `[${strategy.name}] device reset at ${clockTime(r.at)} (${r.reason})${r.lastTicketAt === undefined ? '' : `, ${(r.at - r.lastTicketAt).toFixed(0)} ms after its last ticket`}`,
            ),
        }),
      );
    }
    const started = clock.now();
    const every = Math.max(15_000, durationMs / 8);
    for (let elapsed = 0; elapsed < durationMs;) {
      const step = Math.min(every, durationMs - elapsed);
      await sleep(step);
      elapsed = clock.now() - started;
      progress(
        `${clockTime(elapsed)}/${clockTime(durationMs)} resets: ${runs.map((r) => `${r.strategy.name} ${r.observer.resets.length}`).join(', ')}; tickets ${runs.reduce((a, r) => a + r.observer.tickets, 0)}`,
      );
    }
    const endedAt = clock.now();
    const out = report(runs, timing, endedAt);
    out.push(
      `Setup: interval ${intervalMs} ms per instance (3 instances: device, mm, sm:sensor), deferral ${timing.deferralMs} ms, bound D = ${timing.boundMs} ms, reply timeout ${timing.device.replyTimeoutMs} ms (+ up to 50 % jitter; each retry a fresh nonce, until the next round), initial timeout ${timing.device.initialTimeoutMs} ms, reboot ${timing.device.bootMs} ms; ${minutes} min per strategy, all strategies at once in one process (devices, proxies and hubs), over ${brokerName}; hubs: in-memory \`HubCore\` ${hubReplay === 'guard' ? 'with a replay guard (a nonce answered once is refused after, as a SQLite hub does)' : 'without a replay guard (a retried nonce is answered again)'}; proxy seed ${seed} (+ strategy index). Load average (1 min): ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}.`,
    );
    return out.join('\n\n');
  } finally {
    await Promise.allSettled(runs.map((r) => r.stop()));
    await mosquitto?.stop();
    await aedes?.close();
  }
}

function report(runs: StrategyRun[], t: ResilienceTiming, endedAt: number): string[] {
  const rows = runs.map((r) => {
    const ob = r.observer;
    const hours = (endedAt - r.bootedAt) / 3_600_000;
    const c = r.device.receiverCounters;
    const minSlack = ob.slacks.length === 0 ? undefined : Math.min(...ob.slacks);
    const refused = [...ob.refused].map(([code, n]) => `${n} ${code}`).join(', ');
    return [
      r.strategy.name,
      r.strategy.what,
      ob.resets.length,
      (ob.resets.length / hours).toFixed(0),
      ob.vmRestarts,
      c.rounds,
      ob.tickets,
      c.retries,
      refused === '' ? '0' : refused,
      ms0(minSlack),
      ms0(ob.slacks.length === 0 ? undefined : median(ob.slacks)),
      minSlack === undefined ? '–' : `${((minSlack / t.boundMs) * 100).toFixed(0)} %`,
    ];
  });
  const out = [
    '### Resets and slack per strategy',
    table(
      [
        'strategy',
        'the proxy',
        'device resets',
        'resets / hour',
        'VM restarts (mm, sm)',
        'rounds',
        'tickets accepted',
        'retries',
        'replies refused',
        'worst slack ms',
        'median slack ms',
        'worst slack / D',
      ],
      rows,
    ),
    `Slack = the deadline a ticket replaced minus the time it was accepted, over every ticket of every instance (device, mm, sm:sensor): how close that round came to a reset. In steady state it is about D − interval − round trip (${t.boundMs - t.device.intervalMs} ms less the round trip here); a ticket accepted with slack s means s ms more of silence would have cost a reset. "VM restarts" = expiries of the mm and sm:sensor AWDTs (each reboots that VM alone); "replies refused" = replies the AWDTs judged and turned down, by code. Resets per hour are extrapolated from the run's length: a short run resolves them coarsely.`,
  ];
  const bh = runs.find((r) => r.strategy.blackhole !== undefined);
  if (bh !== undefined) out.push(blackholeReport(bh, t));
  out.push(
    '### What the proxies did',
    table(
      [
        'strategy',
        'PUBLISH → broker',
        'PUBLISH → device',
        'dropped',
        'acked on behalf',
        'delayed',
        'duplicated',
        'reordered',
        'injected',
        'blackholed packets',
      ],
      runs.map((r) => {
        const { toBroker: b, toClient: c } = r.proxy.counters;
        const sum = (k: keyof typeof b) => b[k] + c[k];
        return [
          r.strategy.name,
          b.publishes,
          c.publishes,
          sum('dropped'),
          sum('ackedOnBehalf'),
          sum('delayed'),
          sum('duplicated'),
          sum('reordered'),
          sum('injected'),
          sum('blackholed'),
        ];
      }),
    ),
  );
  return out;
}

function blackholeReport(run: StrategyRun, t: ResilienceTiming): string {
  const holes = run.blackholes;
  const resets = run.observer.resets;
  const perHole = holes.map((h, i) => {
    const until = holes[i + 1]?.start ?? Number.POSITIVE_INFINITY;
    const mine = resets.filter((r) => r.at >= h.start && r.at < until);
    const recovery = run.observer.deviceTicketTimes.find((x) => x >= h.end);
    return { mine, recovery: recovery === undefined ? undefined : recovery - h.end };
  });
  const first = perHole.map((p) => p.mine[0]).filter((r) => r !== undefined);
  const afterTicket = first.filter((r) => r.lastTicketAt !== undefined).map((r) => r.at - r.lastTicketAt!);
  const late = first.filter((r) => r.deadline !== undefined).map((r) => r.at - r.deadline!);
  const recoveries = perHole.map((p) => p.recovery).filter((x) => x !== undefined);
  const outside = resets.length - perHole.reduce((a, p) => a + p.mine.length, 0);
  return [
    '### Blackhole: one reset each, within the bound\n',
    table(
      [
        'blackholes',
        'device resets in them',
        'blackholes with exactly one',
        'reset − last ticket, median / max ms',
        'bound D ms',
        'reset − deadline, max ms',
        'blackhole end → next device ticket, median / max ms',
        'resets outside',
      ],
      [
        [
          holes.length,
          resets.length - outside,
          perHole.filter((p) => p.mine.length === 1).length,
          `${ms0(afterTicket.length ? median(afterTicket) : undefined)} / ${ms0(afterTicket.length ? Math.max(...afterTicket) : undefined)}`,
          t.boundMs,
          ms0(late.length ? Math.max(...late) : undefined),
          `${ms0(recoveries.length ? median(recoveries) : undefined)} / ${ms0(recoveries.length ? Math.max(...recoveries) : undefined)}`,
          outside,
        ],
      ],
    ),
    `\nA reset must come at or before the deadline the last ticket set (its request time + D, so less than D after it was accepted); "reset − deadline" is how late the simulated watchdog's timer fired (event-loop lateness; Node's timers work in whole milliseconds, so −1 is on time). Connections opened during a blackhole are held until it ends, as a TCP connect would retry.`,
  ].join('\n');
}
