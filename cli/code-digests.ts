/**
 * The code digests a hub's policy can pin, read off a build's verified artifacts.
 *
 * Two digests per service instance `sm:<name>`:
 *  - the image digest: SHA-512 of its bundle, as `manifest.json` lists it and as the domain reports it
 *    (`DomainReport.image_digest`) in every placement;
 *  - the actor code digests: what `expectedDigests` compares (actors/hub/policy.ts) — per actor of the
 *    domain, SHA-512 of the UTF-8 source text of its `start` function, as the hypervisor's inspector
 *    hashes it (actors/hypervisor/inspector.ts). A service domain runs one actor, named after the
 *    service. Only an inspector in the same process reports actors (`single`, `split`); a domain
 *    process (`process` placement) is reported from outside, without actors, so there the image
 *    digest is what identifies its code.
 *
 * The actor digests are read by importing the bundle (its top level runs here, as on a device) and
 * installing it into a stand-in supervisor that records what it would spawn and starts nothing.
 */
import type { ChannelEndpoint, Supervisor } from '../runtime/index.ts';
import { importDomain } from '../actors/device/index.ts';
import { bundleFile, labelOfBundle, sha512Hex, type Manifest } from '../actors/release/index.ts';
import type { BoardProfile } from '../boards/index.ts';
import type { ServiceEntry } from '../actors/images/service.ts';

export interface InstanceDigests {
  /** `sw`, `hypervisor`, `mm` or `sm:<service>`. */
  readonly label: string;
  readonly file: string;
  /** SHA-512 of the bundle, hex (the manifest's). */
  readonly imageDigest: string;
  /** Actor name → hex SHA-512 of its code, as `expectedDigests` takes it; services only. */
  readonly actors?: Readonly<Record<string, string>>;
}

interface Spawned {
  readonly name: string;
  readonly start: (...args: never[]) => unknown;
}

/** The actors a service image spawns, with their code digests; nothing is started. */
export function serviceActorDigests(image: ServiceEntry<unknown>, board: BoardProfile, dataDir: string): Record<string, string> {
  const spawned: Spawned[] = [];
  const supervisor = {
    spawn: (spec: Spawned) => {
      spawned.push(spec);
      return { path: `image/${spec.name}` };
    },
  } as unknown as Supervisor;
  const endpoint = { route: () => {}, send: () => false } as unknown as ChannelEndpoint;
  image.install({ image: supervisor, mm: endpoint, dataDir, mailbox: board.domains.sm.mailbox });
  return Object.fromEntries(spawned.map((s) => [s.name, sha512Hex(new TextEncoder().encode(s.start.toString()))]));
}

/** Each bundle's digests, from a verified manifest and its verified files. */
export async function artifactDigests(
  manifest: Manifest,
  files: ReadonlyMap<string, Uint8Array>,
  board: BoardProfile,
  dataDir: string,
): Promise<InstanceDigests[]> {
  const out: InstanceDigests[] = [];
  for (const [file, entry] of Object.entries(manifest.files)) {
    if (entry.domain === undefined) continue;
    const label = labelOfBundle(file);
    if (entry.domain !== 'sm') {
      out.push({ label, file, imageDigest: entry.sha512 });
      continue;
    }
    const image = await importDomain<ServiceEntry<unknown> & { ENTRY_ABI: number }>(label, manifest, files.get(bundleFile(label)));
    out.push({ label, file, imageDigest: entry.sha512, actors: serviceActorDigests(image, board, dataDir) });
  }
  return out;
}

/**
 * A fleet policy document (actors/hub/policy-doc.ts) for each service instance: exactly its actors
 * allowed, with their code digests, and the board's deferral. For `dominion policy --set` on its SH.
 */
export function servicePolicy(digests: readonly InstanceDigests[], deferralMs: number): { instances: Record<string, unknown> } {
  const instances: Record<string, unknown> = {};
  for (const d of digests) {
    if (d.actors === undefined) continue;
    instances[d.label] = { deferralMs, allowedActors: Object.keys(d.actors), expectedDigests: d.actors, imageDigests: [d.imageDigest] };
  }
  return { instances };
}
