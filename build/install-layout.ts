/**
 * Where an install archive's files go on a board, as data: `dominion install` (build/install.ts)
 * follows this table, and the archive's `install.sh` is generated from it (build/install-script.ts),
 * so the two cannot drift apart.
 *
 *   <prefix>/bin/dominion-device.mjs       the bundled runner (0755)
 *   <prefix>/dist/<board>/…                the build's verified files (0644)
 *   <prefix>/board.json, PACK.json, PACK.sig   what is installed, and its signature
 *   /etc/systemd/system/dominion-<board>.service   the unit, its prefix rewritten to <prefix>
 *   /etc/dominion/          0700, kept: the provisioning and key files (`dominion enroll`)
 *   /var/lib/dominion/      0755, kept: the device's data (its unit's StateDirectory)
 *
 * The prefix (default /opt/dominion) is replaced whole: staged beside it, then renamed into place.
 * The kept folders are made when missing and never emptied. Every path may sit under a root
 * (`--root`, like DESTDIR), for an image being prepared or a test.
 */
import { DEFAULT_LAYOUT, RUNNER_PATH } from './systemd.ts';
import { BOARD_FILE } from '../actors/release/index.ts';
import { PACK_FILE, PACK_SIG_FILE, type PackDoc } from './pack-format.ts';
import { PackError } from './pack-errors.ts';

export const DEFAULT_PREFIX = DEFAULT_LAYOUT.prefix;
export const UNIT_DIR = '/etc/systemd/system';
export const INSTALL_SCRIPT = 'install.sh';
export const CHECKSUMS_FILE = 'SHA512SUMS';

/** A folder: under the prefix (`base: 'prefix'`, replaced with it) or at an absolute path (kept). */
export interface LayoutDir {
  readonly base: 'prefix' | 'root';
  readonly path: string;
  readonly mode: number;
}

/** A file of the archive (`from`, under its top folder) and where it goes. */
export interface LayoutFile {
  readonly from: string;
  readonly base: 'prefix' | 'root';
  readonly path: string;
  readonly mode: number;
  /** The systemd unit: its `unitPrefix/` is rewritten to the install's prefix. */
  readonly rewritePrefix: boolean;
}

export interface InstallLayout {
  readonly board: string;
  readonly unit: string;
  /** In creation order; prefix folders are relative to it ('' is the prefix itself). */
  readonly dirs: readonly LayoutDir[];
  readonly files: readonly LayoutFile[];
}

export function unitName(board: string): string {
  return `dominion-${board}.service`;
}

/** The layout of an archive: from its (verified) PACK.json, so it holds exactly what is listed. */
export function installLayout(doc: Pick<PackDoc, 'board' | 'files'>): InstallLayout {
  const unit = unitName(doc.board);
  const dist = `dist/${doc.board}`;
  const dirs: LayoutDir[] = [
    { base: 'prefix', path: '', mode: 0o755 },
    { base: 'prefix', path: 'bin', mode: 0o755 },
    { base: 'prefix', path: 'dist', mode: 0o755 },
    { base: 'prefix', path: dist, mode: 0o755 },
    // Root's alone: the device key file and provisioning (sw reads them; domains get secrets on stdin).
    { base: 'root', path: '/etc/dominion', mode: 0o700 },
    // As systemd's StateDirectory= makes it: each domain user must pass through to its own 0700 folder.
    { base: 'root', path: DEFAULT_LAYOUT.dataDir, mode: 0o755 },
    { base: 'root', path: UNIT_DIR, mode: 0o755 },
  ];
  const files: LayoutFile[] = [];
  const listed = Object.keys(doc.files).sort();
  if (!listed.includes(RUNNER_PATH)) throw new PackError('archive', `${PACK_FILE} lists no ${RUNNER_PATH}`);
  if (!listed.includes(unit)) throw new PackError('archive', `${PACK_FILE} lists no ${unit}`);
  for (const from of listed) {
    if (from === RUNNER_PATH) files.push({ from, base: 'prefix', path: RUNNER_PATH, mode: 0o755, rewritePrefix: false });
    else if (from.startsWith(`${dist}/`) && !from.slice(dist.length + 1).includes('/'))
      files.push({ from, base: 'prefix', path: from, mode: 0o644, rewritePrefix: false });
    else if (from === BOARD_FILE) files.push({ from, base: 'prefix', path: BOARD_FILE, mode: 0o644, rewritePrefix: false });
    else if (from === unit) files.push({ from, base: 'root', path: `${UNIT_DIR}/${unit}`, mode: 0o644, rewritePrefix: true });
    else if (from !== INSTALL_SCRIPT && from !== CHECKSUMS_FILE)
      throw new PackError('archive', `${PACK_FILE} lists ${from}, which has no place`);
  }
  for (const from of [PACK_FILE, PACK_SIG_FILE]) files.push({ from, base: 'prefix', path: from, mode: 0o644, rewritePrefix: false });
  return { board: doc.board, unit, dirs, files };
}

/** An install prefix: absolute, plain characters only (it goes into a unit file and a sed expression). */
export function checkPrefix(prefix: string): string {
  if (!/^\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(prefix) || prefix.split('/').some((p) => p === '.' || p === '..'))
    throw new PackError('bad-option', `the prefix must be an absolute path of [A-Za-z0-9._-] parts, got ${JSON.stringify(prefix)}`);
  return prefix;
}

/** The unit's text for an install under `prefix`. */
export function rewriteUnit(unit: string, unitPrefix: string, prefix: string): string {
  return unit.split(`${unitPrefix}/`).join(`${prefix}/`);
}

/** What to do after an install, as both installers print it. */
export function nextSteps(board: string, prefix: string): string[] {
  const unit = unitName(board);
  return [
    'next steps:',
    `  1. put the provisioning and key files from "dominion enroll" in /etc/dominion/ (provision.json; the key file mode 0600)`,
    `  2. once, as root: node ${prefix}/bin/dominion-device.mjs users --board ${board} --create   (a user per domain process)`,
    `  3. systemctl daemon-reload && systemctl enable --now ${unit}`,
    `  4. journalctl -fu ${unit}   (the device logs each ticket it gets)`,
  ];
}
