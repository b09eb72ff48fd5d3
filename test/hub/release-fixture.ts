/**
 * Built-and-signed artifacts dirs for the publish and image-serving tests (not a test file itself):
 * the layout `dominion build` writes (bundles, board.json, manifest.json v2, manifest.sig), with
 * deterministic stand-in bundles instead of esbuild output, so a test makes one in milliseconds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecretKey, type Signer } from '../../actors/crypto/index.ts';
import {
  BOARD_FILE,
  bundleFile,
  encodeManifest,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  sha512Hex,
  SIGNATURE_FILE,
  type ManifestFile,
} from '../../actors/release/index.ts';
import { signManifest } from '../../build/sign.ts';
import { node } from './fixtures.ts';

export interface ReleaseKeyPair {
  readonly secretKey: Uint8Array;
  readonly signer: Signer;
  readonly publicKey: Uint8Array;
}

export function newReleaseKey(): ReleaseKeyPair {
  const secretKey = generateSecretKey();
  const signer = node.signer(secretKey);
  return { secretKey, signer, publicKey: signer.publicKey };
}

export interface ArtifactsOptions {
  readonly key: ReleaseKeyPair;
  readonly board?: string;
  readonly version?: number;
  readonly issuedAt?: number;
  readonly services?: readonly string[];
  /** Bundle size per label (default: sw 100 000 bytes, others 20 000). */
  readonly sizes?: Readonly<Record<string, number>>;
  /** Changes every bundle's bytes (same sizes): "another build of the same version". */
  readonly variant?: string;
}

export interface Artifacts {
  readonly dir: string;
  readonly board: string;
  readonly version: number;
  readonly manifest: Uint8Array;
  readonly signature: Uint8Array;
  /** By label (`sw`, `hypervisor`, `mm`, `sm:<service>`). */
  readonly bundles: ReadonlyMap<string, Uint8Array>;
}

/** Deterministic bytes for a label: a SHA-512 chain, so sizes are exact and contents differ per label. */
export function bundleBytes(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let block = node.sha512(new TextEncoder().encode(seed));
  for (let at = 0; at < size; at += block.length) {
    out.set(block.subarray(0, Math.min(block.length, size - at)), at);
    block = node.sha512(block);
  }
  return out;
}

/** Writes a signed artifacts dir under `parent` and returns what is in it. */
export function writeArtifacts(parent: string, o: ArtifactsOptions): Artifacts {
  const board = o.board ?? 'rpi4';
  const version = o.version ?? 1;
  const issuedAt = o.issuedAt ?? 1_764_028_800_000 + version;
  const services = o.services ?? ['sensor'];
  const dir = join(parent, `${board}-v${version}${o.variant !== undefined ? `-${o.variant}` : ''}`);
  mkdirSync(dir, { recursive: true });
  const labels = ['sw', 'hypervisor', 'mm', ...services.map((s) => `sm:${s}`)];
  const bundles = new Map<string, Uint8Array>();
  const files: Record<string, ManifestFile> = {};
  for (const label of labels) {
    const size = o.sizes?.[label] ?? (label === 'sw' ? 100_000 : 20_000);
    const bytes = bundleBytes(`${board} ${label} ${version} ${o.variant ?? ''}`, size);
    bundles.set(label, bytes);
    const file = bundleFile(label);
    writeFileSync(join(dir, file), bytes);
    const domain = label.startsWith('sm:') ? 'sm' : (label as 'sw' | 'hypervisor' | 'mm');
    files[file] = {
      domain,
      ...(domain === 'sm' ? { service: label.slice(3) } : {}),
      version,
      issuedAt,
      bytes: bytes.length,
      sha512: sha512Hex(bytes),
    };
  }
  const boardJson = new TextEncoder().encode(`${JSON.stringify({ id: board })}\n`);
  writeFileSync(join(dir, BOARD_FILE), boardJson);
  files[BOARD_FILE] = { bytes: boardJson.length, sha512: sha512Hex(boardJson) };
  const manifest = encodeManifest({ format: MANIFEST_FORMAT, board, version: `0.1.${version}`, target: 'node20', files });
  const signature = signManifest(manifest, o.key.secretKey);
  writeFileSync(join(dir, MANIFEST_FILE), manifest);
  writeFileSync(join(dir, SIGNATURE_FILE), signature);
  return { dir, board, version, manifest, signature, bundles };
}
