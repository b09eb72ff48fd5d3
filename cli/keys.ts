/**
 * `dominion keys new`: a device's key set or a hub's key pair, as files. Secret files are created
 * with mode 0600 and never overwritten; only file names and key ids are printed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cryptoBackend, hex } from '../actors/crypto/index.ts';
import { hashPassword, hubUsername, newBrokerPassword } from '../actors/broker-auth/index.ts';
import { KeyFileError, writeBrokerCredentialFile } from '../actors/provisioning/index.ts';
import {
  devicePublicKeys,
  IH_ROLE,
  newDeviceKeys,
  newHubKey,
  serviceHubRole,
  writeDeviceKeysFile,
  writeDevicePublicFile,
  writeHubKeyFile,
  writeHubPublicFile,
  type HubRole,
} from '../actors/hub/index.ts';
import { writeNewReleaseKey } from '../build/release-key.ts';
import { consoleIo, failure, oneOf, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';

const KEYS_HELP = `usage: dominion keys new --device <device-id> [--services <a,b,…>] [--without-mm] --out <dir>
       dominion keys new --hub <hub-id> --role ih|sh [--service <name>] --out <dir>
       dominion keys new --release <name> --out <dir>

Makes keys as files in <dir> (created if missing). Secret files get mode 0600 and are never
overwritten; keep them off shared disks.

  --device <id>        a device's key set: K_I (device), K_MM (mm) and one K_SM per service
                       → <id>.keys.json (secret: goes to the device only)
                       → <id>.pub.json  (public: what "dominion enroll" reads)
  --services <list>    comma-separated service names, e.g. sensor,camera (default: none)
  --without-mm         no K_MM: the device can be enrolled for the device instance (and its
                       services) only; the device runtime refuses to run mm without it
  --hub <id>           a hub's signing key pair and its broker credential
                       → <id>.key.json    (secret: for "dominion hub --key")
                       → <id>.broker.json (secret: username hub@<id> and password for the
                                           broker; "dominion hub" finds it beside --key)
                       → <id>.pub.json    (public, with the password's hash: for "dominion
                                           enroll --hub", which gives the hash to broker-sync)
  --role ih|sh         the hub's role; --service <name> with sh
  --release <name>     the release key that signs builds and install archives
                       → <name>.key (secret: the Ed25519 seed as 64 hex digits, for "dominion
                                     build/pack --release-key"; keep it off the build machine's
                                     shared disks and back it up: devices pin its public key)
                       → <name>.pub (public: for "dominion enroll/install --release-pub")
  --out <dir>          where to write
  -h, --help           this text`;

export async function keysCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('keys', argv, {
    device: { type: 'string' },
    services: { type: 'string' },
    hub: { type: 'string' },
    release: { type: 'string' },
    role: { type: 'string' },
    service: { type: 'string' },
    'without-mm': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(KEYS_HELP);
    return 0;
  }
  positionals('keys', rest, ['new']);
  if (rest[0] !== 'new') throw new UsageError(`keys: unknown subcommand "${rest[0]}" (only "new")`);
  if ([values.device, values.hub, values.release].filter((v) => v !== undefined).length !== 1)
    throw new UsageError('keys new: give exactly one of --device <id>, --hub <id> or --release <name>');
  const out = required('keys', 'out', values.out);
  try {
    mkdirSync(out, { recursive: true, mode: 0o700 });
    if (values.release !== undefined) {
      if (values.role !== undefined || values.service !== undefined || values.services !== undefined || values['without-mm'])
        throw new UsageError('keys new --release: takes only --out');
      const k = writeNewReleaseKey(out, values.release);
      io.out(`release key ${values.release}: ${k.secretFile} (secret, 0600), ${k.publicFile} (public key ${hex(k.publicKey)})`);
    } else if (values.device !== undefined) {
      if (values.role !== undefined || values.service !== undefined)
        throw new UsageError('keys new --device: --role and --service are for --hub (use --services)');
      const services = values.services === undefined || values.services === '' ? [] : values.services.split(',').map((s) => s.trim());
      const keys = newDeviceKeys(values.device, services, { mm: !values['without-mm'] });
      const secretPath = join(out, `${keys.deviceId}.keys.json`);
      const publicPath = join(out, `${keys.deviceId}.pub.json`);
      writeDeviceKeysFile(secretPath, keys);
      const pub = devicePublicKeys(keys);
      writeDevicePublicFile(publicPath, pub);
      io.out(`device ${keys.deviceId}: ${secretPath} (secret, 0600), ${publicPath}`);
      for (const k of pub.keys) io.out(`  ${k.instance.padEnd(12)} key id ${keyIdHex(k.publicKey)}`);
    } else {
      if (values.services !== undefined) throw new UsageError('keys new --hub: --services is for --device (a service hub takes --service)');
      if (values['without-mm']) throw new UsageError('keys new --hub: --without-mm is for --device');
      const roleKind = oneOf('keys', 'role', values.role, ['ih', 'sh'] as const);
      if (roleKind === 'ih' && values.service !== undefined) throw new UsageError('keys new: --service is only for --role sh');
      const role: HubRole = roleKind === 'ih' ? IH_ROLE : serviceHubRole(required('keys', 'service', values.service));
      const username = hubUsername(values.hub!); // refuses an id the broker's password file cannot hold
      const password = newBrokerPassword();
      const key = { ...newHubKey(values.hub!, role), brokerPasswordHash: hashPassword(password) };
      const secretPath = join(out, `${key.hubId}.key.json`);
      const publicPath = join(out, `${key.hubId}.pub.json`);
      const credentialPath = join(out, `${key.hubId}.broker.json`);
      if (existsSync(credentialPath)) throw new KeyFileError(`${credentialPath} already exists; refusing to overwrite a credential`);
      writeHubKeyFile(secretPath, key);
      writeBrokerCredentialFile(credentialPath, { username, password });
      writeHubPublicFile(publicPath, key);
      io.out(
        `hub ${key.hubId} (${roleKind}${role.kind === 'sh' ? `:${role.service}` : ''}): ${secretPath} (secret, 0600), ${credentialPath} (broker ${username}, secret, 0600), ${publicPath}; key id ${keyIdHex(key.publicKey)}`,
      );
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof Error && err.name === 'InvalidInstanceError') throw new UsageError(`keys: ${err.message}`);
    return failure(io, 'keys', err);
  }
  return 0;
}

function keyIdHex(publicKey: Uint8Array): string {
  return hex(cryptoBackend('node').sha512(publicKey).slice(0, 16));
}
