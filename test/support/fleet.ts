/**
 * A deterministic little fleet for tests: one simulated device (ManualClock, manual draining), the
 * demo IH and sensor SH as in-process hub cores, and a direct link between them that tests can tamper
 * with.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../runtime/index.ts';
import { demoFleet, Device, DirectHubLink, timingFor, type DeviceEvent, type DirectLinkOptions } from '../../actors/device/index.ts';
import type { HubCore } from '../../actors/hub/index.ts';
import { sensorService, type ServiceSpec } from '../../actors/sm/index.ts';

export const DEVICE_ID = 'pi-0001';

export interface FleetOptions {
  intervalMs?: number;
  deferralMs?: number;
  tamper?: DirectLinkOptions['tamper'];
  online?: () => boolean;
  /** Extra services beside the sensor, each with its own SH. */
  extraServices?: ReadonlyArray<ServiceSpec<never>>;
}

export function simFleet(o: FleetOptions = {}) {
  const intervalMs = o.intervalMs ?? 1000;
  const deferralMs = o.deferralMs ?? 3 * intervalMs;
  const clock = new ManualClock(0);
  const extra = o.extraServices ?? [];
  const demo = demoFleet({ deviceId: DEVICE_ID, services: ['sensor', ...extra.map((x) => x.name)], deferralMs });
  const sh = demo.sh.get('sensor')!;
  /** Tickets the hubs issued: when, for which instance, for how long. */
  const issued: Array<{ instance: string; at: number; deferralMs: number }> = [];
  const handler = (core: HubCore) => (bytes: Uint8Array) => {
    const d = core.handleRequest(bytes, clock.now());
    if (d.outcome === 'ticket' && d.instance) issued.push({ instance: d.instance, at: clock.now(), deferralMs });
    return d.reply;
  };
  const service: Array<{ service: string; stream: string; payload: Uint8Array }> = [];
  const link = new DirectHubLink({
    deviceId: DEVICE_ID,
    hubs: new Map([[demo.ih.id, handler(demo.ih.core)], ...[...demo.sh.values()].map((h) => [h.id, handler(h.core)] as const)]),
    tamper: o.tamper,
    online: o.online,
    onService: (s, stream, payload) => service.push({ service: s, stream, payload }),
  });
  const timing = timingFor(intervalMs);
  const device = new Device({
    deviceId: DEVICE_ID,
    firmwareVersion: '1.0.0',
    keys: demo.keys,
    hubs: demo.pins,
    timing,
    services: [sensorService({ periodMs: intervalMs }), ...extra],
    dataDir: mkdtempSync(join(tmpdir(), 'dominion-test-')),
    openLink: () => link,
    clock,
    drain: 'manual',
    jitter: () => 0.5,
  });
  const events: DeviceEvent[] = [];
  device.onEvent((e) => events.push(e));
  return {
    clock,
    device,
    ih: demo.ih.core,
    sh: sh.core,
    ihPolicy: demo.ih.policy,
    demo,
    shPolicy: sh.policy,
    ihKey: demo.ih.key,
    keys: demo.keys,
    link,
    events,
    issued,
    service,
    timing,
    deferralMs,
    intervalMs,
  };
}

export type Fleet = ReturnType<typeof simFleet>;

export function eventsOf<T extends DeviceEvent['type']>(
  events: readonly DeviceEvent[],
  type: T,
  instance?: string,
): Array<Extract<DeviceEvent, { type: T }>> {
  return events.filter(
    (e): e is Extract<DeviceEvent, { type: T }> =>
      e.type === type && (instance === undefined || ('instance' in e && e.instance === instance)),
  );
}
