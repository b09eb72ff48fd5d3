/**
 * The hubs of `dominion up`, the way an operator would set them up, in a temp directory: hub key
 * files, a device key set, `enroll` into one SQLite database per hub, a provisioning file that the
 * device then loads its pins and keys from, and one `SqliteHub` per hub on the broker. The demo
 * fleet's policy (deferral, allowed actors of the clean images) is the fleet policy of each database.
 *
 * Broker identities as in a deployment (docs/ARCHITECTURE.md §7.1): each hub gets a credential file
 * and its hash in its public key, the device one at enrolment; `onAccounts` hands the accounts in
 * the databases to the broker (the embedded one's authorizer) before anything connects.
 */
import { Logger } from '../actors/log/index.ts';
import { join } from 'node:path';
import {
  devicePublicKeys,
  enrollDevice,
  IH_ROLE,
  loadProvisioning,
  newDeviceKeys,
  newHubKey,
  readDeviceKeysFile,
  readHubKeyFile,
  serviceHubRole,
  SqliteHub,
  writeDeviceKeysFile,
  writeHubKeyFile,
  writeProvisioning,
  type HubKeyPair,
} from '../actors/hub/index.ts';
import { setFleetPolicy, SqliteHubStore } from '../actors/hub/sqlite/index.ts';
import { readBrokerCredentialFile, requireMmKey, writeBrokerCredentialFile, type BrokerCredential } from '../actors/provisioning/index.ts';
import { hashPassword, hubUsername, newBrokerPassword, type BrokerUser } from '../actors/broker-auth/index.ts';
import { collectBrokerAccounts, logHubServer } from '../actors/hub/index.ts';
import { MM_IMAGE_ACTORS, type DemoFleet, type DemoHub, type DeviceKeys, type HubPins } from '../actors/device/index.ts';
import { serviceInstance } from '../proto/index.ts';

export interface SqliteFleet {
  /** Shaped as the demo fleet, so the scenario drives these hubs (their policy is the database's). */
  readonly fleet: DemoFleet;
  readonly hubs: readonly SqliteHub[];
  readonly dir: string;
  /** The device's broker credential, read from the file its provisioning file names. */
  readonly deviceCredential: BrokerCredential;
  /** The broker CA the provisioning file pins (an `mqtts://` broker given with --broker-ca). */
  readonly brokerCa?: string;
  stop(): Promise<void>;
}

export async function startSqliteFleet(o: {
  dir: string;
  brokerUrl: string;
  /** PEM text of the broker's CA, for an `mqtts://` broker: pinned in the provisioning file and by the hubs. */
  brokerCa?: string;
  deviceId: string;
  services: readonly string[];
  deferralMs: number;
  /** Called with the databases' broker accounts once enrolment wrote them, before any hub connects. */
  onAccounts?: (users: readonly BrokerUser[]) => void;
}): Promise<SqliteFleet> {
  const credentialOf = (hubId: string): string => join(o.dir, `${hubId}.broker.json`);
  const hubKeys: HubKeyPair[] = [newHubKey('ih-1', IH_ROLE), ...o.services.map((s) => newHubKey(`sh-${s}`, serviceHubRole(s)))].map((k) => {
    const password = newBrokerPassword();
    writeBrokerCredentialFile(credentialOf(k.hubId), { username: hubUsername(k.hubId), password });
    return { ...k, brokerPasswordHash: hashPassword(password) };
  });
  for (const k of hubKeys) writeHubKeyFile(join(o.dir, `${k.hubId}.key.json`), k);
  const deviceKeysPath = join(o.dir, `${o.deviceId}.keys.json`);
  const secrets = newDeviceKeys(o.deviceId, o.services);
  writeDeviceKeysFile(deviceKeysPath, secrets);

  const dbOf = (hubId: string): string => join(o.dir, `${hubId}.db`);
  const devicePassword = newBrokerPassword();
  const enrolled = enrollDevice({
    device: devicePublicKeys(secrets),
    hubs: hubKeys.map((k) => ({ hub: k, dbPath: dbOf(k.hubId) })),
    deviceKeys: `${o.deviceId}.keys.json`,
    brokerCredential: { passwordHash: hashPassword(devicePassword), file: `${o.deviceId}.broker.json` },
    broker: o.brokerUrl,
    ...(o.brokerCa !== undefined ? { brokerCa: o.brokerCa } : {}),
  });
  writeBrokerCredentialFile(join(o.dir, `${o.deviceId}.broker.json`), { username: o.deviceId, password: devicePassword });
  o.onAccounts?.(collectBrokerAccounts(hubKeys.map((k) => dbOf(k.hubId))).users);
  const provisioningPath = join(o.dir, `${o.deviceId}.provision.json`);
  writeProvisioning(provisioningPath, enrolled.provisioning);
  for (const k of hubKeys) {
    const store = SqliteHubStore.open({ path: dbOf(k.hubId) });
    try {
      const d = o.deferralMs;
      setFleetPolicy(
        store.db,
        k.role.kind === 'ih'
          ? { instances: { device: { deferralMs: d }, mm: { deferralMs: d, allowedActors: MM_IMAGE_ACTORS } } }
          : { instances: { [serviceInstance(k.role.service)]: { deferralMs: d, allowedActors: [k.role.service] } } },
      );
    } finally {
      store.close();
    }
  }

  // The device side reads only what a real device would be given: the provisioning file and its keys.
  const provisioning = loadProvisioning(provisioningPath);
  const fromFile = requireMmKey(readDeviceKeysFile(provisioning.deviceKeysPath), provisioning.deviceKeysPath);
  const keys: DeviceKeys = { device: fromFile.device, mm: fromFile.mm, services: fromFile.services };
  const pins: HubPins = provisioning.hubs;
  const deviceCredential = readBrokerCredentialFile(provisioning.brokerCredentialPath!);

  const hubs: SqliteHub[] = [];
  try {
    for (const k of hubKeys) {
      const key = readHubKeyFile(join(o.dir, `${k.hubId}.key.json`));
      const credential = readBrokerCredentialFile(credentialOf(k.hubId));
      hubs.push(
        await SqliteHub.start({
          role: k.role,
          hubId: k.hubId,
          brokerUrl: o.brokerUrl,
          ...(o.brokerCa !== undefined ? { brokerTls: { ca: o.brokerCa } } : {}),
          dbPath: dbOf(k.hubId),
          signer: key.signer,
          credential,
        }),
      );
      // Errors only (a lost broker, failing commits): the scenario's own withholds would crowd the live table.
      logHubServer(hubs.at(-1)!.server, Logger.create({ component: `hub ${k.hubId}`, level: 'error', write: (l) => console.error(l) }));
      // As `dominion hub` does, loudly: a hub that stopped answering must not look online.
      hubs.at(-1)!.onNotReady((problem) => console.error(`dominion up: hub ${k.hubId} NOT READY, stopped answering: ${problem}`));
    }
  } catch (err) {
    await Promise.allSettled(hubs.map((h) => h.stop()));
    throw err;
  }
  const demoHub = (hub: SqliteHub, k: HubKeyPair): DemoHub => ({
    id: k.hubId,
    core: hub.core,
    policy: hub.store.policy,
    audit: hub.store.audit,
    key: k.signer,
  });
  const fleet: DemoFleet = {
    deviceId: o.deviceId,
    keys,
    pins,
    ih: demoHub(hubs[0]!, hubKeys[0]!),
    sh: new Map(o.services.map((s, i) => [s, demoHub(hubs[i + 1]!, hubKeys[i + 1]!)])),
  };
  return {
    fleet,
    hubs,
    dir: o.dir,
    deviceCredential,
    ...(provisioning.brokerCa !== undefined ? { brokerCa: provisioning.brokerCa } : {}),
    stop: async () => {
      await Promise.allSettled(hubs.map((h) => h.stop()));
    },
  };
}
