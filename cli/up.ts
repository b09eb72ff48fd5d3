/**
 * `dominion up`: the embedded default. Starts an MQTT broker (Aedes on a free port, unless --broker
 * names one), the IH and one SH on it (SQLite-backed, in a temp directory), builds the `sim` board's
 * releases, publishes them to the hubs, and runs the device from its A/B slots (up-device.ts); shows
 * the ticket loop live and, by default, plays the scenario, prints a summary and exits 0.
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../runtime/index.ts';
import { defaultDeferralMs, timingFor } from '../actors/device/index.ts';
import { changeDeviceState, releaseTarget } from '../actors/hub/sqlite/index.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../actors/mqtt/index.ts';
import { BrokerAuthorizer } from '../actors/broker-auth/index.ts';
import { SlotStore } from '../actors/slots/index.ts';
import { numberOption, UsageError } from './args.ts';
import { outputFolderProblem, parseCommand, positionals } from './options.ts';
import { devicesCommand } from './operator.ts';
import { LiveDisplay, renderStatus } from './display.ts';
import { runScenario, type ScenarioActions } from './scenario.ts';
import { chooseBroker } from './broker-options.ts';
import { startUpDevice, type UpDevice } from './up-device.ts';
import { startSqliteFleet, type SqliteFleet } from './up-hubs.ts';
import { startUpDashboard } from './up-dashboard.ts';
import { BuildError, PROJECT_ROOT } from '../build/index.ts';
import { nameServices, parseServiceArg, stageServiceImages, type ServiceModule } from '../build/service-module.ts';

const HELP = `usage: dominion up [options]

Runs an MQTT broker, the infrastructure hub (IH), one service hub (SH) and a device of the sim board
with the example sensor service — built, signed and published here (releases 1, 2 and a broken 3),
booted from its A/B slots — and shows each instance's deadline, last ticket and resets live.

options:
  --scenario <default|none>  default: gated boot → intrusion in sm → SH withholds → sm restarted
                             clean → the sm image rewritten on disk → restored from the SH → mm
                             updated to release 2 and committed → a broken sensor release 3 rolled
                             back → quarantine holds the device in recovery mode → release → normal
                             boot; then a summary and exit 0. none: just run (until --duration or Ctrl-C).
  --interval <ms>            ticket interval per instance (default 500, at least 200); deferral is 5 × interval
  --duration <s>             stop after this long (default: 120 with a scenario, forever without)
  --broker <mqtt-url>        use this broker instead of the embedded one (e.g. mqtt://127.0.0.1:1883,
                             or mqtts://host:8883 with --broker-ca)
  --broker-ca <file>         the broker's CA certificate (PEM): hubs and device pin it
  --insecure-plaintext       accept a plain mqtt:// --broker that is not loopback
  --data-dir <path>          where the device keeps sw/ and sm-*/ (default: a fresh temp directory)
  --dashboard <host:port|off>
                             serve the fleet dashboard on the hubs' databases (default 127.0.0.1:8080,
                             any free port if that one is taken; loopback only); its actions take the
                             one-time operator token printed at start
  --service [<name>=]<module>
                             also run this service of yours (repeatable): a module exporting a
                             ServiceSpec, built into every release as "dominion build --service"
                             does, with its own SH (sh-<name>) allowing its one actor
  -h, --help                 this text`;

export async function up(argv: string[]): Promise<number> {
  const { values, positionals: rest } = parseCommand('up', argv, {
    scenario: { type: 'string', default: 'default' },
    interval: { type: 'string' },
    duration: { type: 'string' },
    broker: { type: 'string' },
    'broker-ca': { type: 'string' },
    'insecure-plaintext': { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    service: { type: 'string', multiple: true },
    dashboard: { type: 'string', default: '127.0.0.1:8080' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  positionals('up', rest, []);
  if (values.scenario !== 'default' && values.scenario !== 'none')
    throw new UsageError(`--scenario must be "default" or "none", got "${values.scenario}"`);
  // At least 200 ms: the deferral (DEFERRAL_ROUNDS × interval) must be at least the hub's 1 s minimum.
  const intervalMs = numberOption('interval', values.interval, 500, 200, 600_000);
  const durationS = numberOption('duration', values.duration, values.scenario === 'default' ? 120 : 0, 0, 7 * 24 * 3600);
  const dataDirProblem = values['data-dir'] === undefined ? undefined : outputFolderProblem(values['data-dir'], 'made');
  if (dataDirProblem !== undefined) {
    console.error(`dominion up: --data-dir ${dataDirProblem}`);
    return 1;
  }
  // The user's services are named (and their modules checked) before anything starts.
  const userServices = await userServicesOf(values.service ?? []);
  if (userServices === undefined) return 1;
  const timing = timingFor(intervalMs);
  const deferralMs = defaultDeferralMs(intervalMs);

  // The embedded broker listens on loopback only, so it stays plain; a given broker is checked as hubs check it.
  const chosen =
    values.broker !== undefined
      ? chooseBroker('up', values.broker, { caFile: values['broker-ca'], insecurePlaintext: values['insecure-plaintext'] })
      : undefined;
  if (values.broker === undefined && values['broker-ca'] !== undefined) throw new UsageError('up: --broker-ca goes with --broker');
  if (chosen?.warning !== undefined) console.error(`dominion up: WARNING: ${chosen.warning}`);
  let broker: EmbeddedBroker | undefined;
  // The embedded broker admits only the accounts enrolment wrote (docs/ARCHITECTURE.md §7.1).
  const auth = new BrokerAuthorizer();
  const url = values.broker ?? (broker = await startEmbeddedBroker({ port: 0, auth })).url;
  console.log(
    `dominion up: broker ${url}${broker ? ' (embedded Aedes, MQTT 3.1.1, per-device credentials and ACLs)' : ''}, interval ${intervalMs} ms, deferral ${deferralMs} ms`,
  );

  // The hubs run on SQLite databases in a temp directory, set up as an operator would (keys,
  // enroll, provisioning file); the device takes its keys and pins from that provisioning file.
  const hubDir = mkdtempSync(join(tmpdir(), 'dominion-hubs-'));
  let sqlite: SqliteFleet;
  try {
    sqlite = await startSqliteFleet({
      dir: hubDir,
      brokerUrl: url,
      ...(chosen?.ca !== undefined ? { brokerCa: chosen.ca } : {}),
      deviceId: 'pi-0001',
      services: ['sensor', ...userServices.filter((s) => s.name !== 'sensor').map((s) => s.name)],
      deferralMs,
      onAccounts: (users) => auth.replaceUsers(users),
    });
  } catch (error) {
    await broker?.close();
    throw error;
  }
  const fleet = sqlite.fleet;
  const dashboard = await startUpDashboard(
    values.dashboard,
    sqlite.hubs.map((h) => h.store.db.name),
  );
  let device: UpDevice;
  const staged = userServices.length > 0 ? stageServiceImages(userServices, PROJECT_ROOT) : undefined;
  try {
    device = await startUpDevice({
      dir: join(hubDir, 'releases'),
      sqlite,
      url,
      intervalMs,
      dataDir: values['data-dir'] ?? mkdtempSync(join(tmpdir(), 'dominion-device-')),
      clock: new RealClock(),
      log: (line) => console.log(line),
      ...(staged !== undefined ? { extraServices: { names: userServices.map((s) => s.name), serviceImages: staged.serviceImages } } : {}),
    });
  } catch (error) {
    await dashboard?.close();
    await sqlite.stop();
    await broker?.close();
    if (error instanceof BuildError) {
      console.error(`dominion up: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    staged?.remove();
  }
  const cleanup = async (): Promise<void> => {
    await dashboard?.close();
    device.shutdown();
    await sqlite.stop();
    await broker?.close();
  };
  for (const hub of sqlite.hubs) {
    const st = hub.status();
    console.log(
      `hub ${st.hubId} online (${st.subscription} subscription, MQTT ${st.protocol === 5 ? '5' : '3.1.1'})${st.note ? `: ${st.note}` : ''}`,
    );
  }
  console.log(`hub state: SQLite databases in ${hubDir}`);

  const display = new LiveDisplay(device);
  display.start();
  device.boot();
  let interrupted = false;
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', () => {
      interrupted = true;
      resolve();
    });
    if (durationS > 0) setTimeout(resolve, durationS * 1000).unref();
  });

  let ok = true;
  if (values.scenario === 'default') {
    const result = await Promise.race([
      runScenario(device, fleet, display, scenarioActions(sqlite, device), { intervalMs, deferralMs, bootMs: timing.bootMs }),
      stop.then(() => undefined),
    ]);
    display.stop();
    console.log('\nscenario summary');
    if (result === undefined) {
      console.log(interrupted ? '  interrupted' : `  stopped after --duration ${durationS} s before the scenario finished`);
      ok = false;
    } else {
      for (const s of result.steps) console.log(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step} (${(s.tookMs / 1000).toFixed(1)} s): ${s.note}`);
      ok = result.ok;
    }
  } else {
    await stop;
    display.stop();
  }
  console.log(`\n${renderStatus(device.status, device.clock.now()).join('\n')}`);
  // What an operator sees: each hub's view of the device, versions and update states included.
  for (const hub of sqlite.hubs) {
    console.log(`\n$ dominion devices --db ${hub.store.db.name}`);
    await devicesCommand(['--db', hub.store.db.name]);
  }
  const ih = fleet.ih.core.counters();
  console.log(`IH decisions: ${JSON.stringify(ih)}`);
  await cleanup();
  return ok ? 0 : 1;
}

/** The `--service` modules, named; undefined (after saying why) when one cannot be used. */
async function userServicesOf(args: readonly string[]): Promise<ServiceModule[] | undefined> {
  try {
    return await nameServices(args.map((a) => parseServiceArg(a)));
  } catch (e) {
    if (!(e instanceof BuildError)) throw e;
    console.error(`dominion up: ${e.message}`);
    return undefined;
  }
}

/** The scenario's operator (on the hubs' databases) and attacker (on the device's disk). */
function scenarioActions(sqlite: SqliteFleet, device: UpDevice): ScenarioActions {
  const { deviceId } = sqlite.fleet;
  const [ih, sh] = sqlite.hubs;
  const hubOf = (instance: 'mm' | 'sm:sensor') => (instance === 'mm' ? ih! : sh!);
  return {
    tamperServiceImage: () => {
      const state = JSON.parse(readFileSync(join(device.dataDir, 'hypervisor', 'boot-state.json'), 'utf8')) as {
        domains: Record<string, { active: 'a' | 'b' }>;
      };
      const file = join(
        new SlotStore(join(device.dataDir, 'slots')).slotDir('sm:sensor', state.domains['sm:sensor']!.active),
        'sm-sensor.mjs',
      );
      const bytes = readFileSync(file);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(file, bytes);
    },
    requireUpdate: (instance, release) => {
      const hub = hubOf(instance);
      hub.store.policy.requireUpdate(deviceId, instance, releaseTarget(hub.store.db, instance, release, device.board.id));
    },
    clearUpdate: (instance) => hubOf(instance).store.policy.clearUpdate(deviceId, instance),
    quarantine: () => changeDeviceState(ih!.store.db, deviceId, 'quarantine', 'scenario: quarantine'),
    release: () => changeDeviceState(ih!.store.db, deviceId, 'release', 'scenario: release'),
  };
}
