/**
 * Loading a board's artifacts for a device: verify the manifest and every file against the pinned
 * release key (actors/release), then import each domain bundle *from the verified bytes* (a data:
 * URL), never from the file again, so nothing can be swapped between the check and the load. A
 * tampered file throws ArtifactError naming it, and nothing is imported.
 *
 * Each bundle is one image of actors/images/ (its exports: ENTRY_ABI, DOMAIN, runtime, channels,
 * install, and the domain's helpers).
 */
import { validateBoard, type BoardProfile } from '../../boards/index.ts';
import { serviceInstance } from '../../proto/index.ts';
import {
  ArtifactError,
  BOARD_FILE,
  bundleFile,
  labelOfBundle,
  MANIFEST_FILE,
  verifyArtifacts,
  type VerifiedArtifacts,
} from '../release/index.ts';
import { ENTRY_ABI } from '../images/common.ts';
import type { DeviceImages, HypervisorImage, MmImage, ServiceImage, SwImage, VmImages } from './images.ts';

/** A board's verified artifacts: the images (all of them in one process) and the profile they were built for. */
export interface LoadedArtifacts {
  readonly verified: VerifiedArtifacts;
  /** The profile the artifacts were built for (board.json, verified and validated). */
  readonly board: BoardProfile;
  readonly images: DeviceImages;
}

/** Imports verified module bytes (the same bytes give the same module instance: Node keys modules by URL). */
export async function importBytes<T>(bytes: Uint8Array): Promise<T> {
  return (await import(
    `data:text/javascript;base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`
  )) as T;
}

function decode(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ArtifactError('malformed', file, `is not valid JSON (${(e as Error).message})`);
  }
}

/** The verified manifest's board profile (board.json), validated. */
export function boardOf(verified: VerifiedArtifacts): BoardProfile {
  const boardBytes = verified.files.get(BOARD_FILE);
  if (boardBytes === undefined) throw new ArtifactError('missing', BOARD_FILE, `is not listed in ${MANIFEST_FILE}`);
  let board: BoardProfile;
  try {
    board = validateBoard(decode(boardBytes, BOARD_FILE));
  } catch (e) {
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('malformed', BOARD_FILE, (e as Error).message);
  }
  if (board.id !== verified.manifest.board)
    throw new ArtifactError('malformed', BOARD_FILE, `is for board ${board.id}, the manifest for ${verified.manifest.board}`);
  return board;
}

/** SHA-512 of every bundle the manifest lists, by domain label (`sm-sensor.mjs` → `sm:sensor`). */
function digestsOf(verified: VerifiedArtifacts): Map<string, Uint8Array> {
  const digests = new Map<string, Uint8Array>();
  for (const [file, entry] of Object.entries(verified.manifest.files)) {
    if (entry.domain !== undefined) digests.set(labelOfBundle(file), Uint8Array.from(Buffer.from(entry.sha512, 'hex')));
  }
  return digests;
}

/** Imports one domain's bundle from the verified artifacts. */
function importFrom<T extends { ENTRY_ABI: number; DOMAIN: string }>(verified: VerifiedArtifacts, label: string): Promise<T> {
  return importDomain<T>(label, verified.manifest, verified.files.get(bundleFile(label)));
}

/**
 * Imports one domain's bundle from its verified bytes (listed in `manifest`), checking its entry ABI,
 * domain and service.
 */
export async function importDomain<T extends { ENTRY_ABI: number; DOMAIN: string }>(
  label: string,
  manifest: VerifiedArtifacts['manifest'],
  bytes: Uint8Array | undefined,
): Promise<T> {
  const file = bundleFile(label);
  const domain = label.startsWith('sm:') ? 'sm' : label;
  const entry = manifest.files[file];
  if (bytes === undefined || entry?.domain !== domain)
    throw new ArtifactError('missing', file, `is not listed in ${MANIFEST_FILE} as the ${domain} bundle`);
  const m = await importBytes<T & { SERVICE?: string }>(bytes);
  if (m.ENTRY_ABI !== ENTRY_ABI || m.DOMAIN !== domain) {
    throw new ArtifactError(
      'malformed',
      file,
      `exports entry ABI ${String(m.ENTRY_ABI)} for domain ${String(m.DOMAIN)}; this runner needs ABI ${ENTRY_ABI} for ${domain}`,
    );
  }
  if (domain === 'sm' && m.SERVICE !== label.slice(3))
    throw new ArtifactError('malformed', file, `is the bundle of service ${String(m.SERVICE)}, not ${label.slice(3)}`);
  return m;
}

/** Verifies `dir` against the pinned release key and imports every domain bundle it lists. */
export async function loadArtifacts(dir: string, releasePublicKey: Uint8Array): Promise<LoadedArtifacts> {
  const vms = await loadVmImages(dir, releasePublicKey);
  const sw = await importFrom<SwImage>(vms.verified, 'sw');
  return { ...vms, images: { ...vms.images, sw } };
}

/** Verifies `dir` and imports the bundles of the hypervisor, `mm` and every service — not `sw`'s. */
async function loadVmImages(
  dir: string,
  releasePublicKey: Uint8Array,
): Promise<{ readonly verified: VerifiedArtifacts; readonly board: BoardProfile; readonly images: VmImages }> {
  const verified = verifyArtifacts(dir, releasePublicKey);
  const board = boardOf(verified);
  const [hypervisor, mm] = await Promise.all([importFrom<HypervisorImage>(verified, 'hypervisor'), importFrom<MmImage>(verified, 'mm')]);
  const services = new Map<string, ServiceImage>();
  for (const service of board.services) services.set(service, await importFrom<ServiceImage>(verified, serviceInstance(service)));
  const images: VmImages = {
    hypervisor,
    mm,
    services,
    digests: digestsOf(verified),
    version: verified.manifest.version,
    manifestDigest: verified.manifestDigest,
  };
  return { verified, board, images };
}
