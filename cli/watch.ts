/**
 * `dominion watch`: prints a service's readings as they arrive, each verified against the K_SM keys
 * a service hub enrolled (docs/ARCHITECTURE.md §3.1, actors/service-data): a reading is printed
 * only once its seal proves it came from that device's `sm:<service>`; anything else is said as
 * what it is (forged, replayed, out of order, unknown device, malformed) and counted.
 */
import type { MqttClient } from 'mqtt';
import { awaitConnected, connectMqtt } from '../actors/mqtt/index.ts';
import { SqliteHubStore } from '../actors/hub/sqlite/index.ts';
import { ServiceDataVerifier, type ServiceDataOutcome } from '../actors/service-data/index.ts';
import { readBrokerCredentialFile } from '../actors/provisioning/index.ts';
import { serviceInstance, TOPIC_PREFIX } from '../proto/index.ts';
import { BROKER_HELP, BROKER_OPTIONS, chooseBroker } from './broker-options.ts';
import { consoleIo, failure, integer, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';

const HELP = `usage: dominion watch --service <name> --db <sh.db> --broker <url> [options]

Subscribes to dominion/v1/service/<name>/+/+ and prints each reading once its seal verifies
against the K_SM key the service hub's database holds for that device. Forged, tampered,
replayed, out-of-order and unsealed readings are printed as such, never as readings.

options:
  --service <name>         the service (its hub's database enrolled its devices' K_SM keys)
  --db <path>              the service hub's database (read only)
  --broker <url>           mqtts://host:8883 (or mqtt:// on loopback)
${BROKER_HELP}
  --broker-credential <f>  a broker credential file (e.g. the SH's <hub-id>.broker.json: its
                           ACL lets it read its own service's data)
  --count <n>              stop after n verified readings (default: run until Ctrl-C)
  --json                   one JSON object per line
  -h, --help               this text`;

const OPTIONS = {
  service: { type: 'string' },
  db: { type: 'string' },
  broker: { type: 'string' },
  ...BROKER_OPTIONS,
  'broker-credential': { type: 'string' },
  count: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export async function watchCommand(argv: string[], io: CliIo = consoleIo, signal?: AbortSignal): Promise<number> {
  let client: MqttClient | undefined;
  let store: SqliteHubStore | undefined;
  try {
    const { values, positionals: rest } = parseCommand('watch', argv, OPTIONS);
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    positionals('watch', rest, []);
    const service = required('watch', 'service', values.service);
    try {
      serviceInstance(service);
    } catch {
      throw new UsageError(`watch: --service "${service.slice(0, 40)}" is not a service name (1-32 of [a-z0-9-])`);
    }
    const dbPath = required('watch', 'db', values.db);
    const broker = chooseBroker('watch', required('watch', 'broker', values.broker), {
      caFile: values['broker-ca'],
      insecurePlaintext: values['insecure-plaintext'],
    });
    if (broker.warning !== undefined) io.err(`watch: ${broker.warning}`);
    const count = integer('watch', 'count', values.count, 0, 0, Number.MAX_SAFE_INTEGER);
    const credential = values['broker-credential'] === undefined ? undefined : readBrokerCredentialFile(values['broker-credential']);

    store = SqliteHubStore.open({ path: dbPath });
    const registry = store.registry;
    const instance = serviceInstance(service);
    const verifier = new ServiceDataVerifier({
      keyOf: (deviceId, s) => (s === service ? registry.keyFor(deviceId, instance)?.publicKey : undefined),
      now: Date.now,
    });

    client = connectMqtt(broker.url, {
      reconnectPeriodMs: 1000,
      ...(broker.ca !== undefined ? { tls: { ca: broker.ca } } : {}),
      ...(credential !== undefined ? { username: credential.username, password: credential.password } : {}),
      onRefused: (reason) => io.err(`watch: the broker refused the connection: ${reason}`),
      onTlsFailure: (f) => io.err(`watch: ${f.message}`),
    });
    await awaitConnected(client);
    await client.subscribeAsync(`${TOPIC_PREFIX}/service/${service}/+/+`, { qos: 1 });
    io.err(`watch: verifying ${service} readings on ${broker.url} against ${dbPath}`);

    let verified = 0;
    const done = new Promise<void>((resolve) => {
      const say = (o: ServiceDataOutcome): void => {
        io.out(values.json ? JSON.stringify(toJson(o)) : line(o));
        if (o.kind === 'ok' && count > 0 && ++verified >= count) resolve();
      };
      client!.on('message', (topic, payload) => verifier.receive(topic, new Uint8Array(payload)).forEach(say));
      // Records whose seal never came are said too: a reading nobody sealed is not a reading.
      const sweep = setInterval(() => verifier.expire().forEach(say), 1000);
      const stop = (): void => (clearInterval(sweep), resolve());
      signal?.addEventListener('abort', stop, { once: true });
      if (signal === undefined) process.once('SIGINT', stop);
    });
    await done;
    const c = verifier.counters;
    io.err(
      `watch: ${c.ok} verified, ${c.forged} forged, ${c.replayed} replayed, ${c['out-of-order']} out of order, ${c['unknown-device']} unknown device, ${c.malformed} malformed`,
    );
    return 0;
  } catch (err) {
    return failure(io, 'watch', err);
  } finally {
    client?.end(true);
    store?.close();
  }
}

function line(o: ServiceDataOutcome): string {
  if (o.kind === 'malformed') return `MALFORMED ${o.topic}: ${o.detail}`;
  const where = `${o.deviceId} ${o.stream}`;
  switch (o.kind) {
    case 'ok':
      return `${where} #${o.seq} ${printable(o.payload)}`;
    case 'forged':
      return `FORGED ${where}: ${o.reason} (${o.detail})`;
    case 'replayed':
    case 'out-of-order':
      return `${o.kind.toUpperCase()} ${where} #${o.seq}`;
    case 'unknown-device':
      return `UNKNOWN DEVICE ${where}`;
  }
}

function toJson(o: ServiceDataOutcome): Record<string, unknown> {
  const base: Record<string, unknown> = { kind: o.kind };
  if (o.kind === 'malformed') return { ...base, topic: o.topic, detail: o.detail };
  Object.assign(base, { device: o.deviceId, stream: o.stream });
  if (o.kind === 'ok') return { ...base, boot: String(o.boot), seq: String(o.seq), payload: printable(o.payload) };
  if (o.kind === 'forged') return { ...base, reason: o.reason, detail: o.detail };
  if (o.kind === 'replayed' || o.kind === 'out-of-order') return { ...base, boot: String(o.boot), seq: String(o.seq) };
  return base;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text as is (a sensor's JSON), anything else as hex. */
function printable(bytes: Uint8Array): string {
  try {
    const text = utf8.decode(bytes);
    if (!/[\u0000-\u0008\u000e-\u001f]/.test(text)) return text;
  } catch {
    // not UTF-8
  }
  return `hex:${Buffer.from(bytes).toString('hex')}`;
}
