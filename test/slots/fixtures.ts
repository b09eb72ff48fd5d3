/**
 * Shared by the slot tests: release images signed here with a throwaway release key, temp dirs, and
 * `FaultFs` — the real file system with every call counted and logged, and the power cut at any
 * one call (that call and every later one throw; a cut write leaves half its bytes first).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecretKey, nodeBackend } from '../../actors/crypto/index.ts';
import { bundleFile, encodeManifest, MANIFEST_FORMAT, sha512Hex, type Manifest, type ReleaseImage } from '../../actors/release/index.ts';
import { BootStateFile, nodeFs, SlotBoot, SlotStore, type FileStat, type SlotFs } from '../../actors/slots/index.ts';
import { signManifest } from '../../build/sign.ts';

export const BOARD = 'sim';
export const MAX_BUNDLE = 4096;

export interface ReleaseKey {
  readonly secret: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function releaseKey(): ReleaseKey {
  const secret = generateSecretKey();
  return { secret, publicKey: nodeBackend().publicKeyOf(secret) };
}

export const KEY = releaseKey();

/** A signed release image of one domain: a tiny bundle whose text names the label and version. */
export function image(
  label: string,
  version: number,
  options: { readonly board?: string; readonly key?: ReleaseKey; readonly bundle?: Uint8Array } = {},
): ReleaseImage {
  const bundle =
    options.bundle ?? new TextEncoder().encode(`export const DOMAIN = ${JSON.stringify(label)}; export const VERSION = ${version};\n`);
  const service = label.startsWith('sm:') ? label.slice(3) : undefined;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    board: options.board ?? BOARD,
    version: '0.1.0',
    target: 'node20',
    files: {
      [bundleFile(label)]: {
        domain: service !== undefined ? 'sm' : (label as 'sw' | 'hypervisor' | 'mm'),
        ...(service !== undefined ? { service } : {}),
        version,
        issuedAt: 1_700_000_000_000 + version,
        bytes: bundle.length,
        sha512: sha512Hex(bundle),
      },
    },
  };
  const manifestBytes = encodeManifest(manifest);
  return { manifest: manifestBytes, signature: signManifest(manifestBytes, (options.key ?? KEY).secret), bundle };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `dominion-slots-${prefix}-`));
}

/** A copy of `dir` beside it (`<dir>.<name>`, replacing an older one): each crash scenario starts from the same files. */
export function copyOf(dir: string, name: string): string {
  const copy = `${dir}.${name}`;
  rmSync(copy, { recursive: true, force: true });
  copyTree(dir, copy);
  return copy;
}

// Plain files and dirs only; several times faster than cpSync, which matters in loops over every cut.
function copyTree(from: string, to: string): void {
  mkdirSync(to);
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) copyTree(join(from, entry.name), join(to, entry.name));
    else writeFileSync(join(to, entry.name), readFileSync(join(from, entry.name)));
  }
}

/**
 * The real file system without the fsyncs' cost. A test cannot lose unsynced data anyway (the
 * kernel keeps it); the crash model is "everything before the cut reached the disk", so the
 * fsyncs matter as steps (FaultFs counts them and can cut at them), not as waits.
 */
export const fastFs: SlotFs = { ...nodeFs, fsyncSync: () => {} };

export class PowerCut extends Error {
  override readonly name = 'PowerCut';
}

/** The file system (fastFs), counted and logged; with `cutAt`, the power fails at that call (1-based). */
export class FaultFs implements SlotFs {
  calls = 0;
  bytesRead = 0;
  readonly log: string[] = [];
  private off = false;
  private readonly fds = new Map<number, string>();

  constructor(
    private readonly cutAt = Number.POSITIVE_INFINITY,
    private readonly base: SlotFs = fastFs,
  ) {}

  /** Paths the state was renamed onto: one per state write. */
  renamesOnto(path: string): number {
    return this.log.filter((l) => l.startsWith('rename ') && l.endsWith(` -> ${path}`)).length;
  }

  /** Opens for writing of any file under `prefix`. */
  writesUnder(prefix: string): number {
    return this.log.filter((l) => l.startsWith('open-w ') && l.slice(7).startsWith(prefix)).length;
  }

  private step(what: string): void {
    if (this.off) throw new PowerCut(`the power is off (${what})`);
    this.calls++;
    if (this.calls === this.cutAt) {
      this.off = true;
      throw new PowerCut(`power cut at call ${this.calls}: ${what}`);
    }
    this.log.push(what);
  }

  openSync(path: string, flags: number, mode?: number): number {
    const writing = (flags & 3) !== 0;
    this.step(`${writing ? 'open-w' : 'open-r'} ${path}`);
    const fd = this.base.openSync(path, flags, mode);
    this.fds.set(fd, path);
    return fd;
  }
  closeSync(fd: number): void {
    this.step(`close ${this.fds.get(fd)}`);
    this.fds.delete(fd);
    this.base.closeSync(fd);
  }
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number {
    this.step(`read ${this.fds.get(fd)}`);
    const n = this.base.readSync(fd, buffer, offset, length, position);
    this.bytesRead += n;
    return n;
  }
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number {
    // A write the power cuts is torn: half of it reaches the file.
    if (!this.off && this.calls + 1 === this.cutAt && length > 1) this.base.writeSync(fd, buffer, offset, Math.floor(length / 2));
    this.step(`write ${this.fds.get(fd)}`);
    return this.base.writeSync(fd, buffer, offset, length);
  }
  fstatSync(fd: number): FileStat {
    this.step(`fstat ${this.fds.get(fd)}`);
    return this.base.fstatSync(fd);
  }
  fsyncSync(fd: number): void {
    this.step(`fsync ${this.fds.get(fd)}`);
    this.base.fsyncSync(fd);
  }
  renameSync(from: string, to: string): void {
    this.step(`rename ${from} -> ${to}`);
    this.base.renameSync(from, to);
  }
  mkdirSync(path: string): void {
    this.step(`mkdir ${path}`);
    this.base.mkdirSync(path);
  }
  rmSync(path: string): void {
    this.step(`rm ${path}`);
    this.base.rmSync(path);
  }
  readdirSync(path: string): string[] {
    this.step(`readdir ${path}`);
    return this.base.readdirSync(path);
  }
}

/** Where a device keeps its slots and its boot state under `dir`. */
export function devicePaths(dir: string): { readonly slots: string; readonly state: string } {
  return { slots: join(dir, 'slots'), state: join(dir, 'sw', 'boot-state.json') };
}

/** A SlotBoot over `dir` (a device's data), on `fs` — a fresh one per simulated start. */
export function slotBoot(dir: string, fs: SlotFs = fastFs, tries = 3): SlotBoot {
  const paths = devicePaths(dir);
  return new SlotBoot({
    store: new SlotStore(paths.slots, fs),
    stateFile: new BootStateFile(paths.state, fs),
    releasePublicKey: KEY.publicKey,
    board: BOARD,
    maxBundleBytes: MAX_BUNDLE,
    tries,
  });
}

export const LABELS = ['sw', 'hypervisor', 'mm', 'sm:sensor'] as const;

/** The images a fresh device carries (by default sw, hypervisor, mm and one service), each at `version`. */
export function factoryImages(version = 1, labels: readonly string[] = LABELS): Map<string, ReleaseImage> {
  return new Map(labels.map((label) => [label, image(label, version)]));
}
