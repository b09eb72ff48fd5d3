/**
 * `dominion enroll`: registers a device's public keys with its IH and SHs (each SH gets only its own
 * service's key) and writes the device's provisioning file, which pins the hubs' ids and keys.
 */
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { hashPassword, newBrokerPassword } from '../actors/broker-auth/index.ts';
import { enrollDeviceOnHubs, readDevicePublicFile, readHubPublicFile, writeProvisioning, type EnrollTarget } from '../actors/hub/index.ts';
import { writeBrokerCredentialFile } from '../actors/provisioning/index.ts';
import { SYNC_HELP, SYNC_OPTIONS, syncAfter } from './broker-sync.ts';
import { BROKER_HELP, BROKER_OPTIONS, chooseBrokers, readBrokerCa } from './broker-options.ts';
import {
  consoleIo,
  failure,
  outputFileProblem,
  outputFolderProblem,
  parseCommand,
  positionals,
  readPublicKey,
  required,
  UsageError,
  type CliIo,
} from './options.ts';

const ENROLL_HELP = `usage: dominion enroll --device <id.pub.json> --hub <hub.pub.json>=<hub.db> [--hub …] --out <provision.json> [options]

Registers a device with its hubs and writes its provisioning file. The infrastructure hub's database
receives K_I and K_MM (K_MM only if the device has one: without it the device is enrolled for the
device instance only); each service hub's database receives only K_SM of its own service. Databases
are created when missing and bound to the hub named in its public file; nothing is written unless
every check passes (one IH, one SH per service the device runs).

options:
  --device <file>          the device's public keys (dominion.device-public, <id>.pub.json from
                           "dominion keys new"; its secret <id>.keys.json is refused here)
  --hub <pub>=<db>         a hub's public file and its database (a SQLite file, or postgres://…
                           whose schema "dominion hub --init" made); repeat for the IH and every SH
  --out <file>             the provisioning file to write (JSON; see README "Provisioning file")
  --device-keys <path>     how the provisioning file names the device's secret key file
                           (default: <id>.keys.json beside --device, relative to --out)
  --broker <mqtts-url>     broker the device should use, recorded in the provisioning file
                           (mqtts://host[:8883]; plain mqtt:// only to loopback); repeat it to
                           list backups in order: the device fails over to the next when its
                           broker is unreachable and returns to the first ("brokers")
${BROKER_HELP}
                           (--broker-ca is recorded as the file's "brokerCa": the device pins it)
  --release-pub <hex|file> the release public key to pin: the device then runs only artifacts
                           signed with it ("dominion build" prints where its key is)
  --reinstate              enrol a revoked device again (its new keys replace the revoked ones)
  --broker-credential <f>  where to write the device's broker credential (username = device id,
                           a new random password; secret, 0600; default <id>.broker.json beside
                           --out). Every enrolment makes a new one: enrolling again rotates it.
                           The IH's database keeps only its hash; the provisioning file names it.
${SYNC_HELP}
  -h, --help               this text`;

export async function enrollCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('enroll', argv, {
    device: { type: 'string' },
    hub: { type: 'string', multiple: true },
    out: { type: 'string' },
    'device-keys': { type: 'string' },
    broker: { type: 'string', multiple: true },
    ...BROKER_OPTIONS,
    'release-pub': { type: 'string' },
    reinstate: { type: 'boolean', default: false },
    'broker-credential': { type: 'string' },
    ...SYNC_OPTIONS,
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(ENROLL_HELP);
    return 0;
  }
  positionals('enroll', rest, []);
  const devicePath = required('enroll', 'device', values.device);
  const out = required('enroll', 'out', values.out);
  const hubSpecs = values.hub ?? [];
  if (hubSpecs.length === 0)
    throw new UsageError('enroll: at least one --hub <hub.pub.json>=<hub.db> is required (the IH, and one per service)');
  const specs = hubSpecs.map((spec) => {
    // A URL may carry '=' itself (?sslmode=require): split before its scheme.
    const url = /=postgres(ql)?:\/\//i.exec(spec);
    const at = url !== null ? url.index : spec.lastIndexOf('=');
    if (at <= 0 || at === spec.length - 1) throw new UsageError(`enroll: --hub takes <hub.pub.json>=<hub.db>, got "${spec}"`);
    return { pub: spec.slice(0, at), db: spec.slice(at + 1) };
  });
  // Without --broker the device is told its broker on its command line; the CA is recorded all the same.
  const brokers = values.broker ?? [];
  const brokerCa =
    brokers.length > 0
      ? chooseBrokers('enroll', brokers, { caFile: values['broker-ca'], insecurePlaintext: values['insecure-plaintext'] })
      : values['broker-ca'] !== undefined
        ? { ca: readBrokerCa('enroll', values['broker-ca']) }
        : undefined;
  if (brokerCa !== undefined && 'warning' in brokerCa && brokerCa.warning !== undefined)
    io.err(`dominion enroll: WARNING: ${brokerCa.warning}`);
  // Before the hubs' databases change: a provisioning file that cannot be written would leave the
  // device enrolled without one.
  const pathProblem =
    labelled('--out', outputFileProblem(out)) ??
    labelled('--broker-credential', values['broker-credential'] && outputFileProblem(values['broker-credential'])) ??
    labelled('--broker-dir', values['broker-dir'] && outputFolderProblem(values['broker-dir'], 'must-exist'));
  if (pathProblem !== undefined) {
    io.err(`dominion enroll: ${pathProblem}`);
    return 1;
  }
  try {
    const device = readDevicePublicFile(devicePath);
    const hubs: EnrollTarget[] = specs.map((s) => ({ hub: readHubPublicFile(s.pub), dbPath: s.db }));
    const defaultKeys = join(dirname(devicePath), `${basename(devicePath).replace(/\.pub\.json$/, '')}.keys.json`);
    const keysPath = values['device-keys'] ?? relativeTo(out, defaultKeys);
    const credentialPath = values['broker-credential'] ?? join(dirname(out), `${device.deviceId}.broker.json`);
    const password = newBrokerPassword();
    const result = await enrollDeviceOnHubs({
      device,
      hubs,
      deviceKeys: keysPath,
      brokerCredential: { passwordHash: hashPassword(password), file: relativeTo(out, credentialPath) },
      reinstate: values.reinstate,
      ...(brokers.length > 0 ? { brokers } : {}),
      ...(brokerCa?.ca !== undefined ? { brokerCa: brokerCa.ca } : {}),
      ...(values['release-pub'] !== undefined ? { releaseKey: readPublicKey('enroll', values['release-pub']) } : {}),
    });
    writeBrokerCredentialFile(credentialPath, { username: device.deviceId, password });
    writeProvisioning(out, result.provisioning);
    for (const p of result.placed) io.out(`enrolled ${device.deviceId} with ${p.hub} in ${p.dbPath}: ${p.instances.join(', ')}`);
    io.out(
      `provisioning file ${out} (device keys: ${keysPath}; broker credential: ${credentialPath}, secret${brokerCa?.ca !== undefined ? `; broker CA pinned from ${values['broker-ca']}` : ''})`,
    );
    await syncAfter(
      'enroll',
      io,
      values,
      specs.map((s) => s.db),
    );
    return 0;
  } catch (err) {
    return failure(io, 'enroll', err);
  }
}

function labelled(option: string, problem: string | undefined): string | undefined {
  return problem ? `${option} ${problem}` : undefined;
}

/** `target` as seen from the directory of `file` (absolute targets stay absolute). */
function relativeTo(file: string, target: string): string {
  if (isAbsolute(target) && !isAbsolute(file)) return target;
  return relative(dirname(resolve(file)), resolve(target)) || basename(target);
}
