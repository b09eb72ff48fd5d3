/**
 * The device's bootloader for domain images (docs/ARCHITECTURE.md §5): it decides which slot each
 * domain boots, verifies it before a byte of it runs, and moves the boot state through an update,
 * a trial, a commit, a rollback, a fallback or a restore — writing the state only when it changes,
 * in one atomic replace each time.
 *
 * Every boot of a domain, the device's and each VM reboot alike, goes through `open`: that is where
 * a trial's tries are taken, before it boots. `commit` comes from the health signal (the domain's
 * first valid hub ticket), `failTrial` from a trial that crashed, hung or let its AWDT expire.
 */
import { ArtifactError, verifyReleaseImage, type ReleaseImage, type VerifiedImage } from '../release/index.ts';
import {
  beginDownload,
  cleanDetail,
  commit,
  DEFAULT_TRIES,
  domainOf,
  failTrial,
  failUpdate,
  fallback,
  fellBack,
  inactiveSlot,
  initialState,
  addDomain,
  installedTrial,
  MAX_TRIES,
  mirrored,
  rebuiltDomain,
  restored,
  rollBack,
  startBoot,
  SLOT_NAMES,
  type BootState,
  type SlotName,
  type UpdatePhase,
} from './boot-state.ts';
import { BootStateError, SlotError } from './errors.ts';
import type { BootStateFile } from './state-file.ts';
import type { SlotStore } from './slot-store.ts';

export interface SlotBootConfig {
  readonly store: SlotStore;
  readonly stateFile: BootStateFile;
  /** The pinned release key every image must be signed by. */
  readonly releasePublicKey: Uint8Array;
  /** The board every image must be built for. */
  readonly board: string;
  /** The largest bundle a slot may hold (the board's budget); a larger file is refused unread. */
  readonly maxBundleBytes: number;
  /** Boots a trial gets to reach its first ticket before it rolls back (default 3). */
  readonly tries?: number;
}

export interface RolledBack {
  readonly version: number;
  readonly detail: string;
}

export type OpenOutcome =
  | {
      readonly kind: 'ok';
      readonly slot: SlotName;
      /** Booting a trial: `commit` at its first valid hub ticket, `failTrial` if it fails. */
      readonly trial: boolean;
      readonly image: VerifiedImage;
      /** The verified bytes: load exactly these, never the files again. */
      readonly bytes: ReleaseImage;
      /** A trial was given up on this boot (out of tries, or its slot did not verify). */
      readonly rolledBack?: RolledBack;
      /** The active slot did not verify and the other slot, valid and at the floor, took over. */
      readonly fellBack?: { readonly from: SlotName; readonly reason: string };
    }
  | {
      /** No slot verifies: fetch exactly `version` from the hub and call `restore`. */
      readonly kind: 'restore';
      readonly version: number;
      readonly reason: string;
      readonly rolledBack?: RolledBack;
    };

/** What `ensureInstalled` did, for the log. */
export interface InstallReport {
  /** True when there was no boot state: this was the first start. */
  readonly created: boolean;
  readonly installed: ReadonlyArray<{ readonly label: string; readonly version: number }>;
}

/** A domain's slots as a SlotReport carries them (plain data; proto mapping is the caller's). */
export interface SlotStatus {
  readonly label: string;
  /** The version running (or about to run) and its slot: a booted trial's, else the last good one's. */
  readonly version: number;
  readonly slot: SlotName;
  readonly phase?: UpdatePhase;
  readonly updateVersion?: number;
  readonly detail?: string;
}

type SlotCheck =
  { readonly ok: true; readonly image: VerifiedImage; readonly bytes: ReleaseImage } | { readonly ok: false; readonly reason: string };

export class SlotBoot {
  private readonly tries: number;
  /** The state as last read or written; undefined until read, and after a failed write (then the file decides). */
  private cached: BootState | undefined;

  constructor(private readonly config: SlotBootConfig) {
    this.tries = config.tries ?? DEFAULT_TRIES;
    if (!Number.isSafeInteger(this.tries) || this.tries < 1 || this.tries > MAX_TRIES)
      throw new SlotError('bad-tries', `tries must be 1..${MAX_TRIES}, got ${this.tries}`);
  }

  /** The boot state. Throws SlotError `no-state` before `ensureInstalled`, BootStateError when the file is corrupt. */
  state(): BootState {
    const state = this.load();
    if (state === undefined) throw new SlotError('no-state', `no boot state in ${this.config.stateFile.path}; ensureInstalled makes it`);
    return state;
  }

  /**
   * Installs the images the device carries where the boot state has none: every one on the first
   * start (into slot `a`, each its domain's last good image), and later only a domain the state does
   * not know (a service added to the board). Every image is verified before any is written, and the
   * state is written once, after the slots: a power cut before it just repeats the first start.
   * For a domain the state knows, the carried image is ignored — its slots are the truth, and may
   * hold a newer committed version. Throws BootStateError on a corrupt state (see `rebuild`).
   */
  ensureInstalled(images: ReadonlyMap<string, ReleaseImage>): InstallReport {
    const existing = this.load();
    const missing = [...images].filter(([label]) => existing === undefined || !Object.hasOwn(existing.domains, label));
    const verified = missing.map(([label, image]) => ({ label, image, version: this.verify(label, image).version }));
    if (existing !== undefined && verified.length === 0) return { created: false, installed: [] };
    for (const { label, image } of verified) this.config.store.install(label, 'a', image);
    let next = existing ?? initialState({});
    for (const { label, version } of verified) next = addDomain(next, label, version);
    this.persist(next);
    return { created: existing === undefined, installed: verified.map(({ label, version }) => ({ label, version })) };
  }

  /**
   * Chooses, verifies and returns the image `label` boots now. Writes the state only when it
   * changes: a trial's try (before the trial runs), a rollback, a fallback. An ordinary restart
   * without an update writes nothing. A trial slot that does not verify is rolled back at once (a
   * bad image does not get better by retrying); an active slot that does not verify is replaced by
   * the other slot if that is valid and at the floor, else the caller must fetch a copy (`restore`).
   */
  open(label: string): OpenOutcome {
    const boot = startBoot(this.state(), label);
    let next = boot.state;
    let rolledBack = boot.rolledBack;
    if (boot.trial) {
      const trial = domainOf(next, label).trial!;
      const check = this.check(label, boot.slot, trial.version);
      if (check.ok) {
        this.persist(next);
        return { kind: 'ok', slot: boot.slot, trial: true, image: check.image, bytes: check.bytes };
      }
      const detail = `trial slot ${boot.slot} does not verify: ${check.reason}`;
      next = rollBack(next, label, detail);
      rolledBack = { version: trial.version, detail: cleanDetail(detail) };
    }
    const d = domainOf(next, label);
    const lastGood = d.versions[d.active]!;
    const active = this.check(label, d.active, lastGood);
    if (active.ok) {
      this.persist(next);
      return { kind: 'ok', slot: d.active, trial: false, image: active.image, bytes: active.bytes, ...(rolledBack ? { rolledBack } : {}) };
    }
    const to = fallback(next, label);
    const other = to === undefined ? undefined : this.check(label, to, d.versions[to]!);
    if (to !== undefined && other?.ok === true) {
      this.persist(fellBack(next, label));
      return {
        kind: 'ok',
        slot: to,
        trial: false,
        image: other.image,
        bytes: other.bytes,
        fellBack: { from: d.active, reason: active.reason },
        ...(rolledBack ? { rolledBack } : {}),
      };
    }
    this.persist(next);
    return { kind: 'restore', version: lastGood, reason: active.reason, ...(rolledBack ? { rolledBack } : {}) };
  }

  /** An update of `label` to `version` begins: records `downloading` and returns the slot it will go into. */
  beginUpdate(label: string, version: number): SlotName {
    this.persist(beginDownload(this.state(), label, version));
    return inactiveSlot(this.state(), label);
  }

  /**
   * The download of `version` that `beginUpdate` began could not be completed (the hub refused, went
   * silent, or sent what does not verify): records `failed` with why; nothing switches. Ignored when
   * no download of that version is under way.
   */
  failUpdate(label: string, version: number, detail: string): void {
    const d = domainOf(this.state(), label);
    if (d.update?.phase !== 'downloading' || d.update.version !== version) return;
    this.persist(failUpdate(this.state(), label, detail));
  }

  /**
   * The downloaded image of the update `beginUpdate` began: verified (release key, board, label,
   * the version begun, at or above the floor), written into the inactive slot, then one state write
   * makes it the trial. A refusal records `failed` and throws SlotError; a crash at any step leaves
   * the last good slot active and bootable.
   */
  installUpdate(label: string, image: ReleaseImage, version: number): { readonly slot: SlotName; readonly version: number } {
    const state = this.state();
    const d = domainOf(state, label);
    if (d.update?.phase !== 'downloading' || d.update.version !== version)
      throw new SlotError('not-begun', `no download of ${label} version ${version} was begun`);
    const verified = this.refusing(label, () => this.verify(label, image));
    if (verified.version !== version)
      this.refuse(
        label,
        new SlotError('version-mismatch', `${label}: the image is version ${verified.version}, the update is for ${version}`),
      );
    if (verified.version < d.minVersion)
      this.refuse(label, new SlotError('downgrade', `${label} may not go below version ${d.minVersion}, the image is ${verified.version}`));
    const slot = inactiveSlot(state, label);
    this.refusing(label, () => this.config.store.install(label, slot, image));
    this.persist(installedTrial(state, label, slot, version, this.tries));
    return { slot, version };
  }

  /**
   * A fresh copy of the last good image, after `open` answered `restore`: it must verify and be
   * exactly the version the active slot is recorded to hold (a restore is no way around an update's
   * trial). Written into the inactive slot, which becomes active at once, in one state write.
   */
  restore(label: string, image: ReleaseImage): { readonly slot: SlotName; readonly version: number } {
    const state = this.state();
    const d = domainOf(state, label);
    const lastGood = d.versions[d.active]!;
    const verified = this.verify(label, image);
    if (verified.version !== lastGood)
      throw new SlotError('version-mismatch', `a restore of ${label} must be version ${lastGood}, the image is ${verified.version}`);
    const slot = inactiveSlot(state, label);
    this.config.store.install(label, slot, image);
    this.persist(restored(state, label, slot, lastGood));
    return { slot, version: lastGood };
  }

  /**
   * Copies the last good image (verified again) into the inactive slot, so a tampered active slot
   * falls back to it at the next boot instead of waiting for a download (boot-state.ts `mirrored`).
   * Worth calling after a commit and after the first install; refused (`busy`) during an update.
   */
  mirror(label: string): SlotName {
    const state = this.state();
    const d = domainOf(state, label);
    const slot = inactiveSlot(state, label);
    const next = mirrored(state, label, slot);
    const active = this.check(label, d.active, d.versions[d.active]!);
    if (!active.ok) throw new SlotError('bad-image', `${label}: the active slot ${d.active} does not verify: ${active.reason}`);
    this.config.store.install(label, slot, active.bytes);
    this.persist(next);
    return slot;
  }

  /** The booted trial got its first valid hub ticket. Writes (and returns true) only when a trial was committed. */
  commit(label: string): boolean {
    const before = this.state();
    const next = commit(before, label);
    this.persist(next);
    return next !== before;
  }

  /**
   * The booted trial crashed, hung or let its AWDT expire. Its try was taken when it booted, so
   * this records why; after the last try it rolls back at once (returns true). Ignored without a
   * booted trial.
   */
  failTrial(label: string, detail: string): boolean {
    const before = this.state();
    const next = failTrial(before, label, detail);
    this.persist(next);
    return domainOf(before, label).trial !== undefined && domainOf(next, label).trial === undefined;
  }

  report(label: string): SlotStatus {
    const d = domainOf(this.state(), label);
    const running = d.trial !== undefined && d.update?.phase === 'trial' ? d.trial : { slot: d.active, version: d.versions[d.active]! };
    return {
      label,
      version: running.version,
      slot: running.slot,
      ...(d.update !== undefined ? { phase: d.update.phase, updateVersion: d.update.version } : {}),
      ...(d.update?.detail !== undefined ? { detail: d.update.detail } : {}),
    };
  }

  /**
   * After `BootStateError` `corrupt`: moves the file aside (`<path>.corrupt`) and rebuilds the state
   * from what verifies in the slots (boot-state.ts `rebuiltDomain`: the lower valid version active
   * and the floor, a higher one a trial). A domain with no valid slot is left out, for
   * `ensureInstalled` to install from the device's own images. A readable state is returned as is;
   * a missing one is rebuilt the same way (instead of the first start `ensureInstalled` would do).
   */
  rebuild(): { readonly state: BootState; readonly movedAside?: string } {
    let movedAside: string | undefined;
    try {
      const current = this.config.stateFile.read();
      if (current !== undefined) return { state: (this.cached = current) };
    } catch (e) {
      if (!(e instanceof BootStateError && e.code === 'corrupt')) throw e;
      movedAside = this.config.stateFile.moveAside();
    }
    let next = initialState({});
    for (const label of this.config.store.labels()) {
      const found: Partial<Record<SlotName, number>> = {};
      for (const slot of SLOT_NAMES) {
        const check = this.config.store.verify(label, slot, this.config.releasePublicKey, this.config.board, this.config.maxBundleBytes);
        if (check.ok) found[slot] = check.image.version;
      }
      if (found.a !== undefined || found.b !== undefined) next = rebuiltDomain(next, label, found, this.tries);
    }
    this.cached = undefined;
    this.persist(next);
    return { state: next, ...(movedAside !== undefined ? { movedAside } : {}) };
  }

  private load(): BootState | undefined {
    if (this.cached === undefined) this.cached = this.config.stateFile.read();
    return this.cached;
  }

  /** Writes `next` unless it is the state already held. After a failed write the file, not memory, is the truth. */
  private persist(next: BootState): void {
    if (next === this.cached) return;
    try {
      this.config.stateFile.write(next);
    } catch (e) {
      this.cached = undefined;
      throw e;
    }
    this.cached = next;
  }

  /** Verifies an image offered for `label`; throws SlotError `bad-image`. */
  private verify(label: string, image: ReleaseImage): VerifiedImage {
    if (image.bundle.length > this.config.maxBundleBytes)
      throw new SlotError(
        'bad-image',
        `${label}: the bundle is ${image.bundle.length} bytes, more than the ${this.config.maxBundleBytes} allowed`,
      );
    try {
      return verifyReleaseImage(image, label, this.config.releasePublicKey, this.config.board);
    } catch (e) {
      if (e instanceof ArtifactError) throw new SlotError('bad-image', `${label}: ${e.message}`, e);
      throw e;
    }
  }

  /** A slot is good when it verifies and holds the version the state records for it (a validly signed other version is a swap). */
  private check(label: string, slot: SlotName, version: number): SlotCheck {
    const { store, releasePublicKey, board, maxBundleBytes } = this.config;
    const check = store.verify(label, slot, releasePublicKey, board, maxBundleBytes);
    if (!check.ok) return { ok: false, reason: check.error.message };
    if (check.image.version !== version)
      return { ok: false, reason: `slot ${slot} holds version ${check.image.version}, the boot state says ${version}` };
    return check;
  }

  /** Runs a step of an update; if it throws, records the update as failed (best effort) and rethrows. */
  private refusing<T>(label: string, step: () => T): T {
    try {
      return step();
    } catch (e) {
      this.refuse(label, e);
    }
  }

  private refuse(label: string, error: unknown): never {
    try {
      this.persist(failUpdate(this.state(), label, error instanceof Error ? error.message : String(error)));
    } catch {
      // The refusal is what matters; after a power cut nothing more is written anyway.
    }
    throw error;
  }
}
