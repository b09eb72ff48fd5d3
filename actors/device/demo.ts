/**
 * A ready-made fleet of one device for `dominion up` and the tests: fresh keys, an IH and one SH per
 * service with policies that allow exactly the actors the clean images run. Keys live in memory only.
 */
import { cryptoBackend, generateSecretKey, type Signer } from '../crypto/index.ts';
import {
  HubCore,
  IH_ROLE,
  MemoryAuditLog,
  MemoryPolicy,
  MemoryRegistry,
  MemoryReleases,
  releaseLabels,
  serviceHubRole,
  type AuditLog,
  type HubPolicy,
  type HubRole,
} from '../hub/index.ts';
import { serviceInstance } from '../../proto/index.ts';
import type { DeviceKeys, HubPins } from './config.ts';
import { bundleFile, type VerifiedArtifacts } from '../release/index.ts';

/** The actors a clean `mm` image runs, as the inspector names them. */
export const MM_IMAGE_ACTORS: readonly string[] = ['ticket-receiver', 'forwarder', 'relay', 'uplink'];

/** What the scenario and tests do to a demo hub's policy; MemoryPolicy here, a SQLite hub's SqlitePolicy in `dominion up`. */
export type DemoPolicy = HubPolicy & Pick<MemoryPolicy, 'withhold' | 'resume' | 'requireUpdate' | 'clearUpdate'>;

export interface DemoHub {
  readonly id: string;
  readonly core: HubCore;
  readonly policy: DemoPolicy;
  readonly audit: AuditLog;
  /** In-memory hubs: who is enrolled and in what state (active, quarantined, revoked), for the operator to switch. */
  readonly registry?: MemoryRegistry;
  readonly key: Signer;
  /** In-memory hubs: what the hub serves to devices that fetch an image (`publishRelease`). */
  readonly releases?: MemoryReleases;
}

export interface DemoFleet {
  readonly deviceId: string;
  readonly keys: DeviceKeys;
  readonly pins: HubPins;
  readonly ih: DemoHub;
  /** By service name. */
  readonly sh: ReadonlyMap<string, DemoHub>;
}

export interface DemoFleetOptions {
  readonly deviceId?: string;
  readonly services: readonly string[];
  readonly deferralMs: number;
  /** Appended to the hub ids, so runs sharing one broker do not answer each other's devices. */
  readonly idSuffix?: string;
  /** Secret keys to use instead of fresh ones, so another process can rebuild the same fleet. */
  readonly secrets?: DemoSecrets;
}

/** Every secret of a demo fleet (seeds): what a second process needs to play the hubs or the device. */
export interface DemoSecrets {
  readonly device: DeviceKeys;
  readonly ih: Uint8Array;
  readonly services: Readonly<Record<string, Uint8Array>>;
}

/** Fresh secrets for a demo fleet with these services. */
export function demoSecrets(services: readonly string[]): DemoSecrets {
  return {
    device: {
      device: generateSecretKey(),
      mm: generateSecretKey(),
      services: Object.fromEntries(services.map((s) => [s, generateSecretKey()])),
    },
    ih: generateSecretKey(),
    services: Object.fromEntries(services.map((s) => [s, generateSecretKey()])),
  };
}

export function demoFleet(o: DemoFleetOptions): DemoFleet {
  const node = cryptoBackend('node');
  const deviceId = o.deviceId ?? 'pi-0001';
  const secrets = o.secrets ?? demoSecrets(o.services);
  const keys = secrets.device;
  const suffix = o.idSuffix ?? '';
  const ih = makeHub(
    `ih-1${suffix}`,
    secrets.ih,
    IH_ROLE,
    new MemoryPolicy({
      instances: { device: { deferralMs: o.deferralMs }, mm: { deferralMs: o.deferralMs, allowedActors: MM_IMAGE_ACTORS } },
    }),
    (registry) => {
      registry.enroll(deviceId, 'device', node.publicKeyOf(keys.device));
      registry.enroll(deviceId, 'mm', node.publicKeyOf(keys.mm));
    },
  );
  const sh = new Map<string, DemoHub>();
  for (const service of o.services) {
    const instance = serviceInstance(service);
    const policy = new MemoryPolicy({ instances: { [instance]: { deferralMs: o.deferralMs, allowedActors: [service] } } });
    sh.set(
      service,
      makeHub(`sh-${service}${suffix}`, secrets.services[service]!, serviceHubRole(service), policy, (registry) =>
        registry.enroll(deviceId, instance, node.publicKeyOf(keys.services[service]!)),
      ),
    );
  }
  const pins: HubPins = {
    ih: { id: ih.id, publicKey: ih.key.publicKey },
    services: Object.fromEntries([...sh].map(([s, h]) => [s, { id: h.id, publicKey: h.key.publicKey }])),
  };
  return { deviceId, keys, pins, ih, sh };
}

function makeHub(id: string, secret: Uint8Array, role: HubRole, policy: MemoryPolicy, enroll: (registry: MemoryRegistry) => void): DemoHub {
  const key = cryptoBackend('node').signer(secret);
  const registry = new MemoryRegistry();
  enroll(registry);
  const audit = new MemoryAuditLog();
  const releases = new MemoryReleases();
  return { id, core: new HubCore({ role, registry, policy, signer: key, audit, releases }), policy, audit, registry, key, releases };
}

/**
 * Publishes a board's verified artifacts to every hub of the fleet, each the images of its role (as
 * `dominion publish` does for a SQLite hub): what a device then restores and updates from.
 */
export function publishRelease(fleet: DemoFleet, verified: VerifiedArtifacts, nowMs: number): void {
  const node = cryptoBackend('node');
  for (const hub of [fleet.ih, ...fleet.sh.values()]) {
    if (hub.releases === undefined) throw new Error(`hub ${hub.id} keeps its releases in its store: publish with dominion publish`);
    for (const label of releaseLabels(hub.core.role)) {
      const file = bundleFile(label);
      const entry = verified.manifest.files[file];
      const bundle = verified.files.get(file);
      if (entry?.version === undefined || bundle === undefined) continue;
      hub.releases.add({
        board: verified.manifest.board,
        label,
        version: entry.version,
        issuedAt: entry.issuedAt ?? 0,
        manifest: verified.manifestBytes,
        signature: verified.signature,
        bundle,
        digest: node.sha512(bundle),
        publishedAt: nowMs,
      });
    }
  }
}
