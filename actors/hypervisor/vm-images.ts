/**
 * The VMs' images (docs/ARCHITECTURE.md §5): before every boot of a VM the hypervisor asks the keeper
 * of its slots whether the image may boot; a tampered or missing image is fetched from the VM's hub
 * first (IH for `mm`, SH_k for `sm:k`) and restored. An UPDATE_REQUIRED fetches the named release,
 * installs it into the inactive slot and boots the VM from it on trial; its first valid ticket commits
 * it. The slots themselves (files, the boot state, tries and rollback) are the keeper's — the device
 * host's (actors/device) — and the hypervisor never writes a file.
 */
import type { ActorRef, ActorSpec } from '../../runtime/index.ts';
import type { SlotReport, UpdateRequired } from '../../proto/index.ts';
import type { FetchedImage, FetcherMsg, FetchOutcome, FetchTarget } from '../transfer/index.ts';

/** What keeps the VMs' slots on disk, as the hypervisor sees it. */
export interface VmImageKeeper {
  /** The board the device runs (releases are per board). */
  readonly board: string;
  /** Before each boot of `instance`: boot it (from whichever slot the keeper chose), or fetch `version` first. */
  check(instance: string): { readonly kind: 'boot' } | { readonly kind: 'fetch'; readonly version: number; readonly reason: string };
  /** Verifies and installs a fetched image; resolves to why it was refused, or undefined when installed. */
  install(instance: string, image: FetchedImage, purpose: 'restore' | 'update', version: number): Promise<string | undefined>;
  /**
   * Whether an UPDATE_REQUIRED for `version` calls for a fetch: not when the VM runs it already, nor when
   * it rolled back from it (no loop: the hub sees the rollback and the operator decides), nor when it
   * is below the minimum version.
   */
  wants(instance: string, version: number): { readonly fetch: true } | { readonly fetch: false; readonly why: string };
  /** Records that an update of `instance` to `version` is downloading, or failed. */
  updating(instance: string, version: number, failed?: string): void;
  /** The VM's first valid ticket since it booted: commits a trial. */
  ticket(instance: string): void;
  /** The VM's slots and update state, for its AWDT's requests. */
  report(instance: string): SlotReport | undefined;
  /** The largest image accepted for `instance`, in bytes. */
  maxBytes(instance: string): number;
}

export type ImageEvent = {
  readonly type: 'image';
  readonly instance: string;
  readonly phase: 'fetching' | 'restored' | 'installed' | 'failed' | 'skipped';
  readonly purpose: 'restore' | 'update';
  readonly version: number;
  readonly detail?: string;
  readonly at: number;
};

export type UpdaterMsg =
  | { readonly type: 'restore'; readonly instance: string; readonly version: number }
  | { readonly type: 'update'; readonly instance: string; readonly update: UpdateRequired }
  | { readonly type: 'fetched'; readonly instance: string; readonly outcome: FetchOutcome }
  | { readonly type: 'installed'; readonly instance: string; readonly version: number; readonly refused: string | undefined };

export interface UpdaterOptions {
  readonly keeper: VmImageKeeper;
  /** Each VM's fetcher (signing with the VM's key, on its image lane). */
  readonly fetcher: (instance: string) => ActorRef<FetcherMsg> | undefined;
  /** Boots the VM again (the host's restart: its AWDT armed afresh, `check` asked again). */
  readonly reboot: (instance: string, why: 'restored' | 'updated') => void;
  readonly self: () => ActorRef<UpdaterMsg>;
  readonly events?: (event: ImageEvent) => void;
  readonly now: () => number;
}

/** Fetches and installs VM images, one transfer per VM at a time; a restore outranks an update. */
export function imageUpdater(o: UpdaterOptions): ActorSpec<UpdaterMsg> {
  const busy = new Map<string, { readonly purpose: 'restore' | 'update'; readonly version: number }>();
  const emit = (instance: string, phase: ImageEvent['phase'], purpose: ImageEvent['purpose'], version: number, detail?: string) =>
    o.events?.({ type: 'image', instance, phase, purpose, version, ...(detail === undefined ? {} : { detail }), at: o.now() });
  const fetch = (instance: string, purpose: 'restore' | 'update', target: FetchTarget): void => {
    const fetcher = o.fetcher(instance);
    if (fetcher === undefined) return emit(instance, 'failed', purpose, target.version, 'no fetcher for this VM');
    busy.set(instance, { purpose, version: target.version });
    emit(instance, 'fetching', purpose, target.version);
    fetcher.tell({ type: 'fetch', target });
  };
  return {
    name: 'image-updater',
    capacity: 32,
    start: () => ({
      receive(msg: UpdaterMsg): void {
        const { keeper } = o;
        const instance = msg.instance;
        switch (msg.type) {
          case 'restore': {
            const current = busy.get(instance);
            if (current?.purpose === 'restore' && current.version === msg.version) return; // under way
            return fetch(instance, 'restore', {
              label: instance,
              version: msg.version,
              board: keeper.board,
              maxBytes: keeper.maxBytes(instance),
            });
          }
          case 'update': {
            const version = Number(msg.update.releaseVersion);
            if (busy.has(instance)) return; // one transfer per VM; the hub asks again next round
            const wants = keeper.wants(instance, version);
            if (!wants.fetch) return emit(instance, 'skipped', 'update', version, wants.why);
            keeper.updating(instance, version);
            return fetch(instance, 'update', {
              label: instance,
              version,
              board: keeper.board,
              maxBytes: Math.min(keeper.maxBytes(instance), Number(msg.update.sizeBytes)),
              manifestDigest: msg.update.imageDigest,
            });
          }
          case 'fetched': {
            const job = busy.get(instance);
            if (job === undefined) return;
            if (!msg.outcome.ok) {
              busy.delete(instance);
              if (job.purpose === 'update') keeper.updating(instance, job.version, msg.outcome.detail);
              return emit(instance, 'failed', job.purpose, job.version, msg.outcome.detail);
            }
            const self = o.self();
            // Verifying and writing files (and loading the code) is the keeper's, off this actor's turn.
            void keeper.install(instance, msg.outcome.image, job.purpose, job.version).then(
              (refused) => self.tell({ type: 'installed', instance, version: job.version, refused }),
              (e: unknown) => self.tell({ type: 'installed', instance, version: job.version, refused: (e as Error).message }),
            );
            return;
          }
          case 'installed': {
            const job = busy.get(instance);
            busy.delete(instance);
            if (job === undefined) return;
            if (msg.refused !== undefined) return emit(instance, 'failed', job.purpose, job.version, msg.refused);
            emit(instance, job.purpose === 'restore' ? 'restored' : 'installed', job.purpose, job.version);
            o.reboot(instance, job.purpose === 'restore' ? 'restored' : 'updated');
          }
        }
      },
    }),
  };
}
