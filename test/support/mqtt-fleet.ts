/**
 * The demo fleet over a real broker: its IH and SH as `HubServer`s on `url`, and one simulated device
 * (ManualClock, real `MqttHubLink`) with the sensor service. The network is real, so tests await the
 * device's events (bounded) instead of sleeping.
 *
 * With backup brokers the link watches for a silent broker on device time (a request owed its PUBACK
 * for `failoverMs`, actors/mm/silence.ts), so device time must not jump past that while a live
 * broker's PUBACK is still on its way in real time: `advance` moves it in steps and waits for the
 * PUBACKs after each, as a real broker's milliseconds would pass.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../runtime/index.ts';
import { demoFleet, Device, timingFor } from '../../actors/device/index.ts';
import { HubServer } from '../../actors/hub/index.ts';
import { MqttHubLink, type MqttLinkOptions } from '../../actors/mm/index.ts';
import type { Logger } from '../../actors/log/index.ts';
import { sensorService } from '../../actors/sm/index.ts';
import { within } from '../mqtt/wait.ts';

export interface MqttFleetOptions {
  readonly url: string;
  readonly protocolVersion?: 4 | 5;
  /** The broker CA to pin (an mqtts:// URL), for the hubs and the device alike. */
  readonly ca?: string;
  readonly intervalMs?: number;
  readonly deferralMs?: number;
  /** The hubs' reconnect period (default HubServer's). */
  readonly hubReconnectMs?: number;
  /**
   * Backup brokers for the device's link, in order (docs/ARCHITECTURE.md §7.4). Every hub runs one
   * HubServer per broker on the same core, as a hub subscribed on every broker would.
   */
  readonly backups?: readonly string[];
  /** The link's failover timings; its timers run on the device's ManualClock. */
  readonly failover?: Pick<MqttLinkOptions, 'failoverMs' | 'probeEveryMs' | 'lingerMs'>;
  /** Where the link logs (default: problems only, on stderr). */
  readonly linkLog?: (clock: ManualClock) => Logger;
}

export async function mqttFleet(o: MqttFleetOptions) {
  const suffix = `-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const intervalMs = o.intervalMs ?? 1000;
  const deferralMs = o.deferralMs ?? 3000;
  const fleet = demoFleet({ deviceId: `pi${suffix}`, services: ['sensor'], deferralMs, idSuffix: suffix });
  const tls = o.ca !== undefined ? { tls: { ca: o.ca } } : {};
  const reconnect = o.hubReconnectMs !== undefined ? { reconnectPeriodMs: o.hubReconnectMs } : {};
  const brokers = [o.url, ...(o.backups ?? [])];
  const hubs = await Promise.all(
    brokers.flatMap((url) =>
      [fleet.ih, ...fleet.sh.values()].map((h) => HubServer.start({ core: h.core, brokerUrl: url, hubId: h.id, ...tls, ...reconnect })),
    ),
  );
  const clock = new ManualClock();
  const linkLog = o.linkLog?.(clock);
  const links: MqttHubLink[] = [];
  const device = new Device({
    deviceId: fleet.deviceId,
    firmwareVersion: '1.0.0',
    keys: fleet.keys,
    hubs: fleet.pins,
    timing: timingFor(intervalMs),
    services: [sensorService({ periodMs: intervalMs })],
    dataDir: mkdtempSync(join(tmpdir(), 'dominion-mqtt-')),
    openLink: () => {
      const link = new MqttHubLink(
        {
          url: o.url,
          deviceId: fleet.deviceId,
          services: ['sensor'],
          intervalMs,
          ...(o.protocolVersion !== undefined ? { protocolVersion: o.protocolVersion } : {}),
          ...(o.ca !== undefined ? { ca: o.ca } : {}),
          ...(o.backups !== undefined ? { backups: o.backups } : {}),
          ...o.failover,
        },
        linkLog,
        clock,
      );
      links.push(link);
      return link;
    },
    clock,
    jitter: () => 0,
  });
  // Steps of half the silence threshold: a request sent in one step is owed its PUBACK at least
  // half a threshold of device time before its watch could fire, and we wait for it in between.
  const step = Math.max(1, Math.floor((o.failover?.failoverMs ?? 5000) / 2));
  const settled = (): Promise<void> =>
    within<void>(
      10_000,
      () => `the brokers' PUBACKs (owed: ${links.map((l) => l.owedPubacks).join(', ')})`,
      (resolve) => {
        const check = (): void => void (links.every((l) => l.owedPubacks === 0) && resolve());
        const t = setInterval(check, 2);
        check();
        return () => clearInterval(t);
      },
    );
  return {
    fleet,
    hubs,
    clock,
    device,
    links,
    intervalMs,
    deferralMs,
    /** Device time on by `ms`, in steps, each followed by the PUBACKs of the requests it sent. */
    async advance(ms: number): Promise<void> {
      for (let left = ms; left > 0; left -= step) {
        clock.advance(Math.min(step, left));
        await settled();
      }
    },
    async stop(): Promise<void> {
      device.shutdown();
      await Promise.all(hubs.map((h) => h.stop()));
    },
  };
}
