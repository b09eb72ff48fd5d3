/**
 * The demo fleet over a real broker: its IH and SH as `HubServer`s on `url`, and one simulated device
 * (ManualClock, real `MqttHubLink`) with the sensor service. The network is real, so tests await the
 * device's events (bounded) instead of sleeping.
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
  return {
    fleet,
    hubs,
    clock,
    device,
    links,
    intervalMs,
    deferralMs,
    async stop(): Promise<void> {
      device.shutdown();
      await Promise.all(hubs.map((h) => h.stop()));
    },
  };
}
