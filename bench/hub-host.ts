/**
 * Child process for benchmarks: plays the hubs (and, unless given a broker, an embedded Aedes) so the
 * measuring process holds the device alone. Reads one JSON line on stdin — the demo fleet's secrets —
 * prints `READY <broker-url>`, and exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import { demoFleet } from '../actors/device/index.ts';
import { HubServer } from '../actors/hub/index.ts';
import { startEmbeddedBroker } from '../actors/mqtt/index.ts';
import { decodeSecrets, type HubHostConfig } from './hub-host-config.ts';

const lines = createInterface({ input: process.stdin });
const first = await new Promise<string>((resolve) => lines.once('line', resolve));
const config = JSON.parse(first) as HubHostConfig;
const broker = config.brokerUrl === undefined ? await startEmbeddedBroker({ port: 0 }) : undefined;
const url = config.brokerUrl ?? broker!.url;
const fleet = demoFleet({ deviceId: config.deviceId, services: config.services, deferralMs: config.deferralMs, idSuffix: config.idSuffix, secrets: decodeSecrets(config.secrets) });
const hubs = await Promise.all([fleet.ih, ...fleet.sh.values()].map((h) => HubServer.start({ core: h.core, brokerUrl: url, hubId: h.id })));
process.stdout.write(`READY ${url}\n`);
lines.on('close', async () => {
  await Promise.allSettled(hubs.map((h) => h.stop()));
  await broker?.close();
  process.exit(0);
});
