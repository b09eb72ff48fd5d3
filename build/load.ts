/**
 * Loading a board's artifacts for a runner (`dominion device`): verify the manifest and every file
 * against the pinned release key, then import each domain bundle *from the verified bytes* (a data:
 * URL), never from the file again, so nothing can be swapped between the check and the load. A
 * tampered file throws ArtifactError naming it, and nothing is imported.
 *
 * Each bundle is an ES module exporting:
 *   ENTRY_ABI   the entry ABI version (build/entries/common.ts)
 *   DOMAIN      'sw' | 'hypervisor' | 'mm' | 'sm'   (and SERVICE for sm bundles)
 *   runtime     { ActorSystem, ChannelEndpoint, RealClock } from the bundle's own copy of runtime/
 *   channels    the specs of the channels the domain has ends on
 *   install     spawns the domain's actors (options: build/entries/<domain>.ts)
 * plus domain helpers (sw: beginBoot, createWatchdog, FileStateStore, …; mm: MqttHubLink).
 */
import type { ChannelEndpoint, ChannelSpec, Supervisor } from '../runtime/index.ts';
import { validateBoard, type BoardProfile } from '../boards/index.ts';
import { ArtifactError } from './errors.ts';
import { BOARD_FILE, MANIFEST_FILE, verifyArtifacts, type VerifiedArtifacts } from './manifest.ts';
import { ENTRY_ABI } from './entries/common.ts';

export type SwModule = typeof import('./entries/sw.ts');
export type HypervisorModule = typeof import('./entries/hypervisor.ts');
export type MmModule = typeof import('./entries/mm.ts');
export type ServiceModule = typeof import('./entries/sm-sensor.ts');

export interface LoadedArtifacts {
  readonly verified: VerifiedArtifacts;
  /** The profile the artifacts were built for (board.json, verified and validated). */
  readonly board: BoardProfile;
  readonly sw: SwModule;
  readonly hypervisor: HypervisorModule;
  readonly mm: MmModule;
  /** By service name. */
  readonly services: ReadonlyMap<string, ServiceModule>;
  /** SHA-512 of each bundle by domain label (`sw`, `hypervisor`, `mm`, `sm:<service>`): the image digests. */
  readonly digests: ReadonlyMap<string, Uint8Array>;
}

/** Imports verified module bytes (the same bytes give the same module instance: Node keys modules by URL). */
export async function importBytes<T>(bytes: Uint8Array): Promise<T> {
  return (await import(`data:text/javascript;base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`)) as T;
}

function decode(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ArtifactError('malformed', file, `is not valid JSON (${(e as Error).message})`);
  }
}

/** The verified manifest's board profile (board.json), validated. */
function boardOf(verified: VerifiedArtifacts): BoardProfile {
  const boardBytes = verified.files.get(BOARD_FILE);
  if (boardBytes === undefined) throw new ArtifactError('missing', BOARD_FILE, `is not listed in ${MANIFEST_FILE}`);
  let board: BoardProfile;
  try {
    board = validateBoard(decode(boardBytes, BOARD_FILE));
  } catch (e) {
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('malformed', BOARD_FILE, (e as Error).message);
  }
  if (board.id !== verified.manifest.board) throw new ArtifactError('malformed', BOARD_FILE, `is for board ${board.id}, the manifest for ${verified.manifest.board}`);
  return board;
}

/** The bundle file of a domain label: `sw` → sw.mjs, `sm:<service>` → sm-<service>.mjs. */
export function bundleFile(label: string): string {
  return `${label.replace(':', '-')}.mjs`;
}

/** SHA-512 of every bundle the manifest lists, by domain label (`sm-sensor.mjs` → `sm:sensor`). */
function digestsOf(verified: VerifiedArtifacts): Map<string, Uint8Array> {
  const digests = new Map<string, Uint8Array>();
  for (const [file, entry] of Object.entries(verified.manifest.files)) {
    if (entry.domain === undefined) continue;
    const name = file.replace(/\.mjs$/, '');
    digests.set(name.startsWith('sm-') ? `sm:${name.slice(3)}` : name, Uint8Array.from(Buffer.from(entry.sha512, 'hex')));
  }
  return digests;
}

/** Imports one domain's bundle from its verified bytes, checking its entry ABI, domain and service. */
async function importDomain<T extends { ENTRY_ABI: number; DOMAIN: string }>(verified: VerifiedArtifacts, label: string): Promise<T> {
  const file = bundleFile(label);
  const domain = label.startsWith('sm:') ? 'sm' : label;
  const bytes = verified.files.get(file);
  const entry = verified.manifest.files[file];
  if (bytes === undefined || entry?.domain !== domain) throw new ArtifactError('missing', file, `is not listed in ${MANIFEST_FILE} as the ${domain} bundle`);
  const m = await importBytes<T & { SERVICE?: string }>(bytes);
  if (m.ENTRY_ABI !== ENTRY_ABI || m.DOMAIN !== domain) {
    throw new ArtifactError('malformed', file, `exports entry ABI ${String(m.ENTRY_ABI)} for domain ${String(m.DOMAIN)}; this runner needs ABI ${ENTRY_ABI} for ${domain}`);
  }
  if (domain === 'sm' && m.SERVICE !== label.slice(3)) throw new ArtifactError('malformed', file, `is the bundle of service ${String(m.SERVICE)}, not ${label.slice(3)}`);
  return m;
}

/** Verifies `dir` against the pinned release key and imports every domain bundle it lists. */
export async function loadArtifacts(dir: string, releasePublicKey: Uint8Array): Promise<LoadedArtifacts> {
  const verified = verifyArtifacts(dir, releasePublicKey);
  const board = boardOf(verified);
  const [sw, hypervisor, mm] = await Promise.all([
    importDomain<SwModule>(verified, 'sw'),
    importDomain<HypervisorModule>(verified, 'hypervisor'),
    importDomain<MmModule>(verified, 'mm'),
  ]);
  const services = new Map<string, ServiceModule>();
  for (const service of board.services) services.set(service, await importDomain<ServiceModule>(verified, `sm:${service}`));
  return { verified, board, sw, hypervisor, mm, services, digests: digestsOf(verified) };
}

/** One domain's bundle, verified with all the artifacts, as a domain process loads it (`process` placement). */
export interface LoadedDomain<T> {
  readonly verified: VerifiedArtifacts;
  readonly board: BoardProfile;
  readonly module: T;
  /** Every bundle's digest by domain label, as in `LoadedArtifacts`. */
  readonly digests: ReadonlyMap<string, Uint8Array>;
}

/**
 * Verifies all of `dir` (every digest, the manifest's signature) and imports only the bundle of
 * `label` (`hypervisor`, `mm`, `sm:<service>`): a domain process holds its own code and no other.
 */
export async function loadDomain<T extends { ENTRY_ABI: number; DOMAIN: string }>(dir: string, releasePublicKey: Uint8Array, label: string): Promise<LoadedDomain<T>> {
  const verified = verifyArtifacts(dir, releasePublicKey);
  const board = boardOf(verified);
  return { verified, board, module: await importDomain<T>(verified, label), digests: digestsOf(verified) };
}

/** One end of a channel: the module whose code builds it, the spec from that module, the domain it lives in. */
export interface ChannelSide {
  readonly runtime: { readonly ChannelEndpoint: typeof ChannelEndpoint };
  readonly spec: ChannelSpec;
  readonly domain: Supervisor;
}

/**
 * Connects two domains in one process (`single` placement), each end built by its own bundle's
 * code: only framed bytes cross between them, exactly as over a socket.
 */
export function linkChannel(a: ChannelSide, b: ChannelSide, inletCapacity: number): { readonly a: ChannelEndpoint; readonly b: ChannelEndpoint } {
  if (a.spec.name !== b.spec.name) throw new Error(`cannot link channel ${a.spec.name} to ${b.spec.name}`);
  const ea = new a.runtime.ChannelEndpoint(a.spec, a.domain, inletCapacity, 'a');
  const eb = new b.runtime.ChannelEndpoint(b.spec, b.domain, inletCapacity, 'b');
  ea.connect(eb);
  eb.connect(ea);
  return { a: ea, b: eb };
}
