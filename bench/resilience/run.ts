/**
 * One strategy's rig: a hostile proxy in front of the broker, the demo hubs (`HubServer`, in-memory
 * `HubCore`) connected straight to the broker, and the simulated device (`Device`: real AWDTs,
 * ticket receiver and `MqttHubLink`, on a real clock) connected through the proxy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RealClock } from '../../runtime/index.ts';
import { demoFleet, Device } from '../../actors/device/index.ts';
import { HubCore, HubServer, MemoryReplayGuard } from '../../actors/hub/index.ts';
import { MqttHubLink } from '../../actors/mm/index.ts';
import { parseBrokerUrl } from '../../actors/mqtt/index.ts';
import { sensorService } from '../../actors/sm/index.ts';
import { HostileProxy } from '../hostile/index.ts';
import { DeviceObserver, type ObservedReset } from './observer.ts';
import type { Strategy } from './strategies.ts';
import type { ResilienceTiming } from './timing.ts';

export const SERVICES = ['sensor'];

export interface StrategyRun {
  readonly strategy: Strategy;
  readonly device: Device;
  readonly proxy: HostileProxy;
  readonly observer: DeviceObserver;
  /** Blackholes that ran: [start, end) on the device's clock. */
  readonly blackholes: Array<{ start: number; end: number }>;
  /** Device clock at boot. */
  readonly bootedAt: number;
  stop(): Promise<void>;
}

export async function startStrategy(o: {
  readonly strategy: Strategy;
  readonly deviceId: string;
  readonly idSuffix: string;
  readonly brokerUrl: string;
  readonly timing: ResilienceTiming;
  readonly seed: number;
  /**
   * `guard`: the hubs refuse a nonce they already answered, as a hub on SQLite does (its audit log is
   * its replay guard); `none`: they answer it again, as the demo fleet's in-memory hubs do.
   */
  readonly hubReplay: 'guard' | 'none';
  /** One clock for every strategy, so that their times compare. */
  readonly clock: RealClock;
  /** When the run ends, on `clock`. */
  readonly endsAt: number;
  readonly onReset: (r: ObservedReset) => void;
}): Promise<StrategyRun> {
  const { deviceId, timing } = o;
  const fleet = demoFleet({ deviceId, services: SERVICES, deferralMs: timing.deferralMs, idSuffix: o.idSuffix });
  const hubs = await Promise.all(
    [fleet.ih, ...fleet.sh.values()].map((h) => {
      // demoFleet's hubs are in memory, so they have a registry; rebuilt with a replay guard for `guard`.
      const core =
        o.hubReplay === 'none' || h.registry === undefined
          ? h.core
          : new HubCore({
              role: h.core.role,
              signer: h.key,
              registry: h.registry,
              policy: h.policy,
              audit: h.audit,
              replay: new MemoryReplayGuard(),
            });
      return HubServer.start({ core, brokerUrl: o.brokerUrl, hubId: h.id });
    }),
  );
  const proxy = await HostileProxy.start({ target: parseBrokerUrl(o.brokerUrl), seed: o.seed, plan: o.strategy.plan });
  const dataDir = mkdtempSync(join(tmpdir(), 'dominion-bench-resil-'));
  const clock = o.clock;
  const device = new Device({
    deviceId,
    firmwareVersion: '1.0.0',
    keys: fleet.keys,
    hubs: fleet.pins,
    timing: timing.device,
    services: [sensorService({ periodMs: timing.device.intervalMs })],
    dataDir,
    openLink: () => new MqttHubLink({ url: proxy.url, deviceId, services: SERVICES }),
    clock,
  });
  const observer = new DeviceObserver(o.onReset);
  device.onEvent(observer.listen);
  const blackholes: Array<{ start: number; end: number }> = [];
  let stopped = false;
  const bh = o.strategy.blackhole;
  const scheduled: NodeJS.Timeout[] = [];
  if (bh !== undefined) {
    // Blackholes start once the device holds its first ticket; each one only if it, the reset and
    // the reboot's initial timeout fit before the run ends (so every one counted could be recovered from).
    void device
      .nextEvent((e) => e.type === 'ticket' && e.instance === 'device', 60_000)
      .then((first) => {
        if (first === undefined || stopped) return;
        let start = clock.now() + bh.everyMs - bh.ms;
        for (; start + bh.ms + timing.device.bootMs + timing.device.initialTimeoutMs <= o.endsAt; start += bh.everyMs) {
          const at = start;
          scheduled.push(
            setTimeout(() => {
              if (stopped) return;
              const b = { start: clock.now(), end: Number.NaN };
              blackholes.push(b);
              void proxy.blackholeFor(bh.ms).then(() => (b.end = clock.now()));
            }, at - clock.now()),
          );
        }
      });
  }
  device.boot();
  return {
    strategy: o.strategy,
    device,
    proxy,
    observer,
    blackholes,
    bootedAt: clock.now(),
    stop: async () => {
      stopped = true;
      for (const t of scheduled) clearTimeout(t);
      device.shutdown();
      await proxy.close();
      await Promise.all(hubs.map((h) => h.stop()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
