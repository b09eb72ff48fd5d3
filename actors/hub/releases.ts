/**
 * Published releases (docs/ARCHITECTURE.md §5, §7): the domain images a hub serves to the devices it
 * dominates, in chunks (decide-image.ts), and names in UPDATE_REQUIRED (`dominion require-update
 * --release`). A release image is one domain's bundle with the exact `manifest.json` and
 * `manifest.sig` of the build that made it, so a device checks what it fetched against the release
 * key it pinned, not against the hub: a hub can serve only what the release key signed.
 *
 * Which labels a hub keeps follows from its role (role.ts): the IH serves `sw` and `hypervisor`
 * (instance `device`) and `mm`; SH_k serves `sm:k` only. Stored in SQLite by sqlite/releases.ts; the
 * in-memory catalog here serves in-memory hubs and tests.
 */
import type { HubRole } from './role.ts';

/** One published image, bytes included. Immutable once published: a (board, label, version) never changes bytes. */
export interface PublishedRelease {
  readonly board: string;
  /** `sw`, `hypervisor`, `mm` or `sm:<service>`. */
  readonly label: string;
  /** The domain's release version (manifest v2), a positive integer. */
  readonly version: number;
  /** When the release was issued (from the signed manifest), ms since the epoch. */
  readonly issuedAt: number;
  /** `manifest.json`, exactly as signed. */
  readonly manifest: Uint8Array;
  /** `manifest.sig`. */
  readonly signature: Uint8Array;
  readonly bundle: Uint8Array;
  /** SHA-512 of `bundle`. */
  readonly digest: Uint8Array;
  /** When this hub published it (hub clock). */
  readonly publishedAt: number;
}

/** What `dominion releases` lists: a release without its bytes. */
export type ReleaseSummary = Omit<PublishedRelease, 'manifest' | 'signature' | 'bundle'> & {
  readonly bytes: number;
  /** SHA-512 of the manifest: what UPDATE_REQUIRED names as `image_digest`. */
  readonly manifestDigest: Uint8Array;
};

/** Looks a release up; undefined when this hub has not published it. */
export interface ReleaseCatalog {
  release(board: string, label: string, version: number): PublishedRelease | undefined;
}

/** The labels a hub in `role` stores and serves. */
export function releaseLabels(role: HubRole): readonly string[] {
  return role.kind === 'ih' ? ['sw', 'hypervisor', 'mm'] : [`sm:${role.service}`];
}

/**
 * The labels an UPDATE_REQUIRED for `instance` stands for: `device` is its firmware, `sw` and
 * `hypervisor` together; a VM instance is its own image.
 */
export function labelsOfInstance(instance: string): readonly string[] {
  return instance === 'device' ? ['sw', 'hypervisor'] : [instance];
}

/** Releases in memory, for in-memory hubs and tests. */
export class MemoryReleases implements ReleaseCatalog {
  private readonly byKey = new Map<string, PublishedRelease>();

  add(release: PublishedRelease): void {
    this.byKey.set(releaseKey(release.board, release.label, release.version), release);
  }

  release(board: string, label: string, version: number): PublishedRelease | undefined {
    return this.byKey.get(releaseKey(board, label, version));
  }
}

/** One string per (board, label, version): NUL occurs in none of them. */
export function releaseKey(board: string, label: string, version: number): string {
  return `${board}\u0000${label}\u0000${version}`;
}
