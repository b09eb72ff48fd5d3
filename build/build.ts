/**
 * `dominion build --board <id>`: one bundle per domain for a board, checked against the isolation
 * rules and the board's size budgets, with the board profile, a systemd unit and a signed
 * manifest, written to `dist/<id>/`:
 *
 *   sw.mjs  hypervisor.mjs  mm.mjs  sm-<service>.mjs   the domain images (actors/images/*.ts)
 *   board.json                                          the profile they were built for
 *   dominion-<id>.service                               the systemd unit
 *   manifest.json  manifest.sig                         SHA-512 of each of the above, signed
 *   release-key.pub                                     the release public key, for provisioning
 *                                                       (not trusted by a device: it pins its own)
 *
 * Nothing is written unless everything passes; the old `dist/<id>/` is replaced whole.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Metafile } from 'esbuild';
import { hex, nodeBackend } from '../actors/crypto/index.ts';
import { serviceInstance } from '../proto/index.ts';
import { loadBoard, validateBoard, type BoardProfile, type BundleBudget, type DomainKind } from '../boards/index.ts';
import { bundleDomain } from './bundle.ts';
import { BuildError } from './errors.ts';
import {
  BOARD_FILE,
  bundleFile,
  encodeManifest,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  PUBLIC_KEY_FILE,
  sha512Hex,
  SIGNATURE_FILE,
  type Manifest,
  type ManifestFile,
} from '../actors/release/index.ts';
import { signManifest } from './sign.ts';
import { DEV_KEY_FILE, devReleaseKey, readReleaseKey, type ReleaseKey } from './release-key.ts';
import { bundleViolations, ISOLATION_RULES } from './rules.ts';
import { systemdUnit, unitFileName, type UnitLayout } from './systemd.ts';

/** The project root (the folder holding package.json). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BuildOptions {
  /** A shipped board id, or a profile (validated here). */
  readonly board: string | BoardProfile;
  /** Where `<id>/` goes; default `<root>/dist`. */
  readonly outDir?: string;
  /** The release key: a key, or a seed file. Default: the development key `.release-key` beside outDir. */
  readonly releaseKey?: ReleaseKey | string;
  /** Replace MQTT.js's unused dependencies (build/aliases.ts). Default true; false only to measure. */
  readonly aliases?: boolean;
  /** Install layout for the systemd unit. */
  readonly layout?: UnitLayout;
  /** Progress, the size table and warnings; default: nothing. */
  readonly log?: (line: string) => void;
  readonly root?: string;
  /**
   * Images of services that are not in actors/images/, by service name: the path of a module that
   * exports what `sm-sensor.ts` does. The same isolation rules apply to them.
   */
  readonly serviceImages?: Readonly<Record<string, string>>;
  /**
   * The release version of every domain in this build: a positive integer, raised for each release
   * (a device refuses a version below the lowest it has committed). Default 1.
   */
  readonly releaseVersion?: number;
  /**
   * When the release was issued, in ms since the Unix epoch. Default: SOURCE_DATE_EPOCH (seconds) when
   * set, so builds can be reproduced, else now.
   */
  readonly issuedAt?: number;
}

/** A build's issue time: the option, SOURCE_DATE_EPOCH, or now. */
export function issueTime(issuedAt: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  if (issuedAt !== undefined) return issuedAt;
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d{1,12}$/.test(epoch)) return Number(epoch) * 1000;
  return Date.now();
}

export interface BundleReport {
  /** File name in `dist/<id>/`. */
  readonly file: string;
  readonly domain: DomainKind;
  readonly service?: string;
  /** `sw`, `hypervisor`, `mm` or `sm:<service>`. */
  readonly label: string;
  readonly rawBytes: number;
  readonly gzipBytes: number;
  readonly budget: BundleBudget;
  readonly sha512: string;
  readonly metafile: Metafile;
}

export interface BuildResult {
  readonly board: BoardProfile;
  /** `<outDir>/<id>`. */
  readonly dir: string;
  readonly bundles: readonly BundleReport[];
  readonly manifest: Manifest;
  readonly releaseKey: { readonly publicKey: Uint8Array; readonly keyId: string; readonly file: string; readonly dev: boolean };
  /** The size table as printed. */
  readonly table: string;
}

interface Planned {
  readonly file: string;
  readonly domain: DomainKind;
  readonly service?: string;
  readonly label: string;
  readonly entry: string;
}

/** The bundles a board needs, with their entry modules; BuildError('no-entry') for a service without one. */
export function planBundles(
  board: BoardProfile,
  root: string = PROJECT_ROOT,
  serviceImages: Readonly<Record<string, string>> = {},
): Planned[] {
  const images = join(root, 'actors', 'images');
  const plan: Planned[] = (['sw', 'hypervisor', 'mm'] as const).map((domain) => ({
    file: bundleFile(domain),
    domain,
    label: domain,
    entry: join(images, `${domain}.ts`),
  }));
  for (const service of board.services) {
    const label = serviceInstance(service);
    const entry = serviceImages[service] ?? join(images, bundleFile(label).replace(/\.mjs$/, '.ts'));
    if (!existsSync(entry)) {
      throw new BuildError(
        'no-entry',
        `board ${board.id} runs service "${service}", but there is no image ${relative(root, entry)} (one per service, like actors/images/sm-sensor.ts)`,
      );
    }
    plan.push({ file: bundleFile(label), domain: 'sm', service, label, entry });
  }
  return plan;
}

const KIB = 1024;
const kib = (bytes: number): string => (bytes / KIB).toFixed(1);

/** The size table: raw and gzip (level 9) of each bundle against the board's budgets, in KiB. */
export function sizeTable(
  board: BoardProfile,
  bundles: readonly Pick<BundleReport, 'file' | 'label' | 'rawBytes' | 'gzipBytes' | 'budget'>[],
): string {
  const rows = [['bundle', 'domain', 'raw KiB', 'budget', 'gzip KiB', 'budget', '']];
  for (const b of bundles) {
    const over = [b.rawBytes > b.budget.rawKb * KIB ? 'raw' : '', b.gzipBytes > b.budget.gzipKb * KIB ? 'gzip' : ''].filter(Boolean);
    rows.push([
      b.file,
      b.label,
      kib(b.rawBytes),
      String(b.budget.rawKb),
      kib(b.gzipBytes),
      String(b.budget.gzipKb),
      over.length ? `OVER (${over.join(', ')})` : 'ok',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const right = new Set([2, 3, 4, 5]);
  const lines = rows.map((r) =>
    r
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  return [`board ${board.id} (${board.name}), target ${board.node.target}`, ...lines.map((l) => `  ${l}`)].join('\n');
}

function packageVersion(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

function resolveReleaseKey(option: BuildOptions['releaseKey'], outDir: string, log: (line: string) => void): ReleaseKey {
  if (option === undefined) return devReleaseKey(join(dirname(outDir), DEV_KEY_FILE), log);
  return typeof option === 'string' ? readReleaseKey(option) : option;
}

/** Builds, checks, signs and writes one board's artifacts. */
export async function buildBoard(options: BuildOptions): Promise<BuildResult> {
  const root = options.root ?? PROJECT_ROOT;
  const log = options.log ?? (() => {});
  const board = typeof options.board === 'string' ? loadBoard(options.board) : validateBoard(options.board);
  const outDir = resolve(options.outDir ?? join(root, 'dist'));
  const plan = planBundles(board, root, options.serviceImages);
  const aliases = options.aliases !== false;
  const release = resolveReleaseKey(options.releaseKey, outDir, log); // a bad key fails before any work

  const built = await Promise.all(plan.map((p) => bundleDomain({ root, entry: p.entry, board, aliases })));
  const bundles: BundleReport[] = plan.map((p, i) => {
    const { code, metafile } = built[i]!;
    return {
      file: p.file,
      domain: p.domain,
      ...(p.service !== undefined ? { service: p.service } : {}),
      label: p.label,
      rawBytes: code.length,
      gzipBytes: gzipSync(code, { level: 9 }).length,
      budget: board.domains[p.domain].bundle,
      sha512: sha512Hex(code),
      metafile,
    };
  });
  const table = sizeTable(board, bundles);
  log(table);

  const rules = aliases ? ISOLATION_RULES : ISOLATION_RULES.filter((r) => !r.why.startsWith('aliased away'));
  const violations = bundles.flatMap((b, i) =>
    bundleViolations(b.domain, built[i]!, rules).map((v) => `${b.file} (${b.label}) contains ${v.match}: ${v.rule.why}`),
  );
  if (violations.length > 0) throw new BuildError('isolation', `board ${board.id}: isolation rules broken:\n  ${violations.join('\n  ')}`);

  const over = bundles.flatMap((b) => {
    const budgetField = `${board.id}.domains.${b.domain}.bundle`;
    const out: string[] = [];
    if (b.gzipBytes > b.budget.gzipKb * KIB)
      out.push(
        `${b.label} bundle ${b.file} is ${kib(b.gzipBytes)} KiB gzip, over its budget of ${b.budget.gzipKb} KiB (${budgetField}.gzipKb)`,
      );
    if (b.rawBytes > b.budget.rawKb * KIB)
      out.push(
        `${b.label} bundle ${b.file} is ${kib(b.rawBytes)} KiB raw, over its budget of ${b.budget.rawKb} KiB (${budgetField}.rawKb)`,
      );
    return out;
  });
  if (over.length > 0) throw new BuildError('budget', `board ${board.id}: size budget exceeded:\n  ${over.join('\n  ')}`);

  const keyId = hex(nodeBackend().verifier(release.publicKey).keyId);
  const encoder = new TextEncoder();
  const contents = new Map<string, Uint8Array>(bundles.map((b, i) => [b.file, built[i]!.code]));
  contents.set(BOARD_FILE, encoder.encode(`${JSON.stringify(board, null, 2)}\n`));
  contents.set(unitFileName(board), encoder.encode(systemdUnit(board, options.layout)));

  const releaseVersion = options.releaseVersion ?? 1;
  if (!Number.isSafeInteger(releaseVersion) || releaseVersion < 1)
    throw new BuildError('bad-option', `the release version must be a positive integer, got ${releaseVersion}`);
  const issuedAt = issueTime(options.issuedAt);
  const files: Record<string, ManifestFile> = {};
  for (const [name, bytes] of [...contents].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const b = bundles.find((x) => x.file === name);
    files[name] = {
      ...(b ? { domain: b.domain } : {}),
      ...(b?.service !== undefined ? { service: b.service } : {}),
      ...(b ? { version: releaseVersion, issuedAt } : {}),
      bytes: bytes.length,
      sha512: sha512Hex(bytes),
    };
  }
  const manifest: Manifest = { format: MANIFEST_FORMAT, board: board.id, version: packageVersion(root), target: board.node.target, files };
  const manifestBytes = encodeManifest(manifest);
  contents.set(MANIFEST_FILE, manifestBytes);
  contents.set(SIGNATURE_FILE, signManifest(manifestBytes, release.secretKey));
  contents.set(PUBLIC_KEY_FILE, encoder.encode(`${hex(release.publicKey)}\n`));

  // Write everything beside the target, then swap it in: a failed or interrupted build leaves the old one.
  const dir = join(outDir, board.id);
  const staging = join(outDir, `.${board.id}.staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const [name, bytes] of contents) writeFileSync(join(staging, name), bytes, { mode: 0o644 });
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  log(`wrote ${dir} (${contents.size} files), manifest signed by release key ${keyId}${release.dev ? ' (development key)' : ''}`);

  return {
    board,
    dir,
    bundles,
    manifest,
    releaseKey: { publicKey: release.publicKey, keyId, file: release.file, dev: release.dev },
    table,
  };
}
