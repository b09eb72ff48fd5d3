import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoFleet, demoSecrets, Device } from '../../actors/device/index.ts';
import { timingFor } from '../../actors/device/index.ts';
import { MqttHubLink } from '../../actors/mm/index.ts';
import { RealClock } from '../../runtime/index.ts';
import { encodeSecrets, startHubHost } from '../hub-host-config.ts';
import type { ServiceSpec } from '../../actors/sm/index.ts';

import { AwdtCore } from '../../actors/tickets/index.ts';
import { Inspector } from '../../actors/hypervisor/index.ts';
const timings = new Map<string, number[]>();
function wrap(proto: any, name: string, label: string): void {
  const orig = proto[name];
  proto[name] = function (this: any, ...args: unknown[]) {
    const t = performance.now();
    try { return orig.apply(this, args); } finally {
      const inst = this.config?.instance ?? '';
      const k = `${label}${inst ? ' ' + inst : ''}`;
      const e = timings.get(k) ?? []; e.push(performance.now() - t); timings.set(k, e);
    }
  };
}
import { Scheduler } from '../../runtime/index.ts';
import { MqttHubLink as L } from '../../actors/mm/index.ts';
wrap(Scheduler.prototype, 'drain', 'Scheduler.drain (all actors)');
wrap(L.prototype, 'publishRequest', 'link.publishRequest');
wrap(AwdtCore.prototype, 'request', 'AwdtCore.request');
wrap(AwdtCore.prototype, 'reply', 'AwdtCore.reply');
wrap(Inspector.prototype, 'report', 'Inspector.report');
const interval = Number(process.env.INTERVAL ?? 1000);
const dominance = process.env.DOM !== '0';
const seconds = Number(process.env.SECONDS ?? 20);
const service = 'cpu';
const idSuffix = `-${process.pid}`;
const deviceId = `prof${idSuffix}`;
const secrets = demoSecrets([service]);
const host = await startHubHost({ deviceId, services: [service], deferralMs: 3 * interval, idSuffix, secrets: encodeSecrets(secrets) });
const fleet = demoFleet({ deviceId, services: [service], deferralMs: 3 * interval, idSuffix, secrets });
const idle: ServiceSpec<never> = { name: 'cpu', version: '1', capacity: 4, start: () => ({ receive: () => {} }) };
const device = new Device({
  deviceId, firmwareVersion: '1.0.0', keys: fleet.keys, hubs: fleet.pins, timing: timingFor(interval), services: [idle],
  dataDir: mkdtempSync(join(tmpdir(), 'prof-')), openLink: () => new MqttHubLink({ url: host.url, deviceId, services: [service] }), clock: new RealClock(), dominance,
});
let tickets = 0;
device.onEvent((e) => { if (e.type === 'ticket') tickets++; else if (e.type !== 'armed' && e.type !== 'vm-boot' && e.type !== 'boot') console.error(e); });
device.boot();
await new Promise((r) => setTimeout(r, 3000));
const main = () => Number(require('node:fs').readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6; const m0 = main();
const c0 = process.cpuUsage(); const w0 = performance.now(); const t0 = tickets;
await new Promise((r) => setTimeout(r, seconds * 1000));
const c = process.cpuUsage(c0); const mt = main() - m0; const w = performance.now() - w0;
console.log(`main thread ${(mt / w * 100).toFixed(3)} % | dominance=${dominance} interval=${interval}: CPU ${((c.user + c.system) / 1000 / w * 100).toFixed(2)} % of a core; user ${(c.user/1000).toFixed(0)} ms sys ${(c.system/1000).toFixed(0)} ms; ${tickets - t0} tickets in ${(w/1000).toFixed(1)} s => ${((c.user + c.system) / 1000 / Math.max(1, tickets - t0)).toFixed(2)} ms CPU per ticket`);
for (const [k, v] of [...timings].sort()) { const tot = v.reduce((a, b) => a + b, 0); console.log(`${k.padEnd(32)} total ${tot.toFixed(1)} ms`); const w = v.slice(5).sort((a, b) => a - b); console.log(`${k.padEnd(32)} n=${v.length} first ${v.slice(0, 3).map((x) => x.toFixed(1)).join(',')} | steady median ${w[w.length >> 1]!.toFixed(3)} min ${w[0]!.toFixed(3)} max ${w[w.length - 1]!.toFixed(3)} ms`); }
device.shutdown();
await host.stop();
process.exit(0);
