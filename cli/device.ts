/**
 * `dominion device`: runs a board's built artifacts as one device. Nothing starts unless the manifest
 * signature (by the pinned release key) and every bundle's digest verify. The artifacts are the
 * install medium: the first start installs them into the device's A/B slots, and every boot runs from
 * the slots (actors/device/slotted.ts) — `sw` arms the device AWDT and asks the IH to grant the boot,
 * the hypervisor arms the VM AWDTs and boots `mm`, then the services once granted, and `mm` talks to
 * the hubs named in the provisioning file.
 */
import { join, resolve } from 'node:path';
import { RealClock } from '../runtime/index.ts';
import {
  checkEnrolledKeys,
  requireMmEnrolled,
  EnrolledKeyError,
  KeyFileError,
  loadProvisioning,
  readBrokerCredentialFile,
  readDeviceKeysFile,
  requireMmKey,
  type DeviceKeyFile,
  type DeviceKeys,
} from '../actors/provisioning/index.ts';
import { loadBoard } from '../boards/index.ts';
import {
  BundledDevice,
  DeviceBootError,
  DeviceConfigError,
  DomainUserError,
  hostCommandOfThisProcess,
  prepareSlots,
  processPlacement,
  slottedPlacement,
  usersFor,
  type SlottedImages,
} from '../actors/device/index.ts';
import { ArtifactError } from '../actors/release/index.ts';
import { BootStateError, SlotError } from '../actors/slots/index.ts';

import { describeEvent, eventLevel } from './events.ts';
import { LOG_HELP, LOG_OPTIONS, logSettings } from './log-options.ts';
import { Logger } from '../actors/log/index.ts';
import { numberOption, UsageError } from './args.ts';
import { knownBoard, parseCommand, positionals, readPublicKey } from './options.ts';
import { BROKER_HELP, BROKER_OPTIONS, chooseBrokers } from './broker-options.ts';
import { parseBrokerUrl } from '../actors/mqtt/broker-url.ts';
import { WATCHDOG_HELP, watchdogOption, withSimulatedWatchdog } from './watchdog-override.ts';

const HELP = `usage: dominion device --board <id> --provision <file> [--release-pub <hex|file>] [options]

Verifies and runs the artifacts "dominion build --board <id>" wrote: the manifest's signature by the
pinned release key and every bundle's SHA-512. A tampered bundle or manifest is refused, naming the
file, and nothing starts; so is a key file other than the one enrolled (each key is compared with the
provisioning file's "enrolled" keys; the instance and both key ids are named). The first start installs them into the device's A/B slots (under the data
directory; sw, the hypervisor and mm in both slots); every boot runs from the slots, which hold
what the hubs restored and updated since (a newer committed release wins over the artifacts). A boot
starts in recovery mode (sw, the hypervisor, mm) and starts the services once the IH grants it.

The verified board.json says how the domains run: "single" (one process; simulation only), "split"
(this process is sw; the hypervisor, mm and the services share a second one) or "process" (this
process is sw; the hypervisor, mm and each service get a process of their own). Each domain process
has its domain's heap limit and verifies its own slot before it loads its bundle. Run as root, each
runs as a user of its own (create them once with "dominion users --board <id> --create").

options:
  --board <id>            board profile (nitrogen8m, rpi4, rpi3, rpi-zero-2w, sim)
  --provision <file>      provisioning file from "dominion enroll" (device id, pinned hubs, key file)
  --release-pub <hex|file> the release public key to verify with (64 hex digits, or a file holding
                          them; default: the one the provisioning file pins)
  --broker <mqtts-url>    the hubs' broker (default: the provisioning file's "brokers", or its
                          "broker"); TLS with the provisioning file's "brokerCa" pinned, unless
                          --broker-ca says otherwise. Repeat it to list backups in order (all of
                          them replace the file's): mm fails over to the next when its broker is
                          unreachable or stops answering, and returns to the first
${BROKER_HELP}
  --artifacts <dir>       where the build put them (default: dist/<board>)
  --data-dir <dir>        persistent state: sw/, slots/, hypervisor/ and sm-<service>/
                          (default: .dominion/<device id>)
  --duration <s>          stop after this long (default: run until SIGINT/SIGTERM)
  --same-user             development only: run every domain process as this user, even as root
                          (by default, as root, each runs as a user of its own)
  --allow-host-network    development only: in process placement, start services with the host
                          network where no empty network namespace can be made (by default such a
                          service is refused, and says why)
${WATCHDOG_HELP}
${LOG_HELP}
  -h, --help              this text

It logs what it does (start-up, boots, resets, tickets, what the hubs withheld or refused, its broker
connection, which mm logs) with a timestamp and a level: on stdout, as text on a terminal and one JSON
object per line otherwise; what keeps it from starting (a key file other than the enrolled one, a
tampered medium) is an error on stderr, and it exits 1.`;

export async function deviceCommand(argv: string[]): Promise<number> {
  const { values, positionals: rest } = parseCommand('device', argv, {
    board: { type: 'string' },
    provision: { type: 'string' },
    'release-pub': { type: 'string' },
    broker: { type: 'string', multiple: true },
    ...BROKER_OPTIONS,
    artifacts: { type: 'string' },
    'data-dir': { type: 'string' },
    duration: { type: 'string' },
    'allow-host-network': { type: 'boolean' },
    'same-user': { type: 'boolean' },
    watchdog: { type: 'string' },
    ...LOG_OPTIONS,
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  positionals('device', rest, []);
  if (values.board === undefined || values.provision === undefined) {
    throw new UsageError('device: --board and --provision are required');
  }
  const settings = logSettings('device', values);
  const watchdog = watchdogOption(values.watchdog);
  const durationS = numberOption('duration', values.duration, 0, 0, 365 * 24 * 3600);
  const board = loadBoard(knownBoard('device', values.board));
  const dir = resolve(values.artifacts ?? join('dist', board.id));

  const prov = loadProvisioning(values.provision);
  // The running device's log on stdout, where its events always went; start-up checks (warnings, and
  // what stops it from starting) on stderr, where a supervisor looks when it exits 1.
  const log = Logger.create({
    ...settings,
    component: `device ${prov.deviceId}`,
    write: (line) => console.log(line),
    isTTY: process.stdout.isTTY === true,
  });
  const startLog = Logger.create({ ...settings, component: `device ${prov.deviceId}` });
  const refuse = (message: string): number => {
    startLog.error(`refusing to start: ${message}`);
    return 1;
  };
  const pinned = values['release-pub'] !== undefined ? readPublicKey('device', values['release-pub']) : prov.releaseKey;
  if (pinned === undefined)
    throw new UsageError(`device: no release key: give --release-pub or enroll with --release-pub so ${values.provision} pins one`);
  const releaseKey = pinned;
  let keys: DeviceKeyFile & DeviceKeys;
  try {
    const keyFile = readDeviceKeysFile(prov.deviceKeysPath);
    // A key file other than the enrolled one signs requests the hubs cannot attribute: silence, and
    // timeouts forever. Refused here, naming the instance and both key ids (docs/PROTOCOL.md §10.4).
    checkEnrolledKeys(prov, keyFile, prov.deviceKeysPath, values.provision);
    // The device runtime runs mm, so it needs K_MM, and the IH must hold its public half.
    keys = requireMmKey(keyFile, prov.deviceKeysPath);
    requireMmEnrolled(prov, values.provision);
  } catch (error) {
    if (error instanceof EnrolledKeyError || error instanceof KeyFileError) return refuse(error.message);
    throw error;
  }
  const brokers = values.broker !== undefined && values.broker.length > 0 ? values.broker : prov.brokers;
  const broker = brokers[0];
  if (broker === undefined) throw new UsageError('device: no broker: give --broker or put "brokers" in the provisioning file');
  let provisionedCa: string | undefined;
  try {
    // The provisioned pin is for TLS brokers; a --broker override to plain loopback leaves it aside.
    provisionedCa = brokers.every((b) => parseBrokerUrl(b).tls) ? prov.brokerCa : undefined;
  } catch {
    provisionedCa = undefined; // chooseBrokers names the bad URL
  }
  const brokerChoice = chooseBrokers('device', brokers, {
    caFile: values['broker-ca'],
    caText: provisionedCa,
    insecurePlaintext: values['insecure-plaintext'],
  });
  if (brokerChoice.warning !== undefined) startLog.warn(brokerChoice.warning);
  const base = {
    deviceId: prov.deviceId,
    keys,
    hubs: prov.hubs,
    clock: new RealClock(),
    dataDir: resolve(values['data-dir'] ?? join('.dominion', prov.deviceId)),
  };

  const sameUser = values['same-user'] === true;
  const allowHostNetwork = values['allow-host-network'] === true;
  let device: BundledDevice;
  let slotted: SlottedImages;
  try {
    // Every placement boots from the slots; the first start installs the medium into them. The
    // placement is the verified board.json's, not the profile of that name on this machine.
    slotted = await prepareSlots(dir, releaseKey, base.dataDir, {
      forBoard: board.id,
      users: (b) => (b.placement === 'single' ? undefined : usersFor(b, { sameUser })),
      warn: (line) => startLog.warn(line),
    });
    if (watchdog === 'simulated') {
      // Replaced only after the artifacts verified: the override changes how sw runs, never what is trusted.
      const overridden = withSimulatedWatchdog(slotted);
      slotted = overridden.slotted;
      if (overridden.warning !== undefined) startLog.warn(overridden.warning);
    }
    const verifiedBoard = slotted.board;
    // mm subscribes for the services the verified artifacts run, not those of the local profile.
    // mm connects with the device's broker credential (docs/ARCHITECTURE.md §7.1), when enrolled with one.
    const credential = prov.brokerCredentialPath === undefined ? undefined : readBrokerCredentialFile(prov.brokerCredentialPath);
    if (credential !== undefined && credential.username !== prov.deviceId)
      throw new DeviceConfigError(
        `${prov.brokerCredentialPath} is the broker credential of ${credential.username}, not of ${prov.deviceId}`,
      );
    const link = {
      url: broker,
      ...(brokers.length > 1 ? { backups: brokers.slice(1) } : {}),
      deviceId: prov.deviceId,
      services: verifiedBoard.services,
      ...(brokerChoice.ca !== undefined ? { ca: brokerChoice.ca } : {}),
      ...(credential !== undefined ? { username: credential.username, password: credential.password } : {}),
      // mm logs in its own process (stderr there): the same format and level as this one.
      log: { format: log.format, level: settings.level },
    };
    const common = { ...base, link };
    if (verifiedBoard.placement !== 'single') {
      // This process is sw; the hypervisor, mm and each service get a process (and heap limit) of their own.
      const host = hostCommandOfThisProcess();
      if (sameUser && process.getuid?.() === 0) startLog.warn('--same-user: every domain process runs as root (development only)');
      if (allowHostNetwork) startLog.warn('--allow-host-network: a service may get the host network (development only)');
      device = new BundledDevice(base.clock, processPlacement({ ...common, slotted, host, allowHostNetwork, sameUser }));
    } else {
      device = new BundledDevice(base.clock, slottedPlacement({ ...common, slotted }));
    }
  } catch (error) {
    if (refusal(error)) return refuse((error as Error).message);
    throw error;
  }
  device.onEvent((e) => {
    const line = describeEvent(e, { tickets: true });
    if (line !== undefined) log.log(eventLevel(e), line, { event: e.type });
  });
  const running = ['sw', 'hypervisor'].map((label) => `${label} v${slotted.slots.sw.report(label).version}`).join(', ');
  const installed = slotted.medium.installed.map((i) => `${i.label} v${i.version}`).join(', ');
  log.info(
    `dominion device ${prov.deviceId} on board ${board.id} (${slotted.board.placement} placement): artifacts ${dir} verified (${slotted.medium.version}), booting from slots (${running}), ${brokers.length > 1 ? `brokers ${brokers.join(', ')} (failover in order)` : `broker ${broker}`}${brokerChoice.ca !== undefined ? ' (TLS, CA pinned)' : ''}`,
  );
  if (installed !== '') log.info(`slots: installed ${installed} from ${dir}`);
  try {
    device.boot();
  } catch (error) {
    // The first boot opens the slots: none of the recovery path verifying is the one thing a device cannot repair itself.
    if (refusal(error)) return refuse((error as Error).message);
    throw error;
  }
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (durationS > 0) setTimeout(done, durationS * 1000).unref();
  });
  device.shutdown();
  log.close();
  return 0;
}

/** What keeps the device from starting, said in one line: a bad medium or slots, a missing key, pin or user. */
function refusal(error: unknown): boolean {
  return [ArtifactError, DeviceBootError, DeviceConfigError, DomainUserError, SlotError, BootStateError].some((E) => error instanceof E);
}
