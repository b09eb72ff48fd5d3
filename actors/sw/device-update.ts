/**
 * Updates of the device's own firmware — `sw` and the hypervisor (docs/ARCHITECTURE.md §5): an
 * UPDATE_REQUIRED for the `device` instance names a release; `sw` fetches both images from the IH
 * with K_I, has its bootloader (the device host, through `DeviceImageKeeper`) verify and install them
 * into their inactive slots as a trial, and resets the device into them. The trial commits at the
 * device AWDT's first valid ticket after that boot; a trial that never gets one rolls back when its
 * tries are used. `sw` never writes a slot itself.
 */
import type { ActorRef, ActorSpec } from '../../runtime/index.ts';
import type { UpdateRequired } from '../../proto/index.ts';
import type { FetchedImage, FetcherMsg, FetchOutcome } from '../transfer/index.ts';

/** The labels a device update replaces, in the order they are fetched. */
export const FIRMWARE_LABELS = ['sw', 'hypervisor'] as const;
export type FirmwareLabel = (typeof FIRMWARE_LABELS)[number];

/** What keeps `sw`'s and the hypervisor's slots, as `sw` sees it. */
export interface DeviceImageKeeper {
  readonly board: string;
  /** Whether an UPDATE_REQUIRED for `version` calls for a fetch (not when it runs, rolled back, or is below the floor). */
  wants(version: number): { readonly fetch: true } | { readonly fetch: false; readonly why: string };
  /** Records that an update to `version` is downloading, or that it failed (nothing switched). */
  updating(version: number, failed?: string): void;
  /** Verifies both images and installs them as a trial; resolves to why not, or undefined. */
  install(images: Readonly<Record<FirmwareLabel, FetchedImage>>, version: number): Promise<string | undefined>;
  /** The device AWDT's valid ticket: commits a booted trial. */
  ticket(): void;
  maxBytes(label: FirmwareLabel): number;
}

export type FirmwareEvent = {
  readonly type: 'image';
  readonly instance: 'device';
  readonly phase: 'fetching' | 'installed' | 'failed' | 'skipped';
  readonly purpose: 'update';
  readonly version: number;
  readonly detail?: string;
  readonly at: number;
};

export type FirmwareMsg =
  | { readonly type: 'update'; readonly update: UpdateRequired }
  | { readonly type: 'fetched'; readonly outcome: FetchOutcome }
  | { readonly type: 'installed'; readonly version: number; readonly refused: string | undefined };

export interface FirmwareUpdaterOptions {
  readonly keeper: DeviceImageKeeper;
  readonly fetcher: () => ActorRef<FetcherMsg>;
  readonly self: () => ActorRef<FirmwareMsg>;
  /** Resets the device into the installed trial (the watchdog, reason UPDATE). */
  readonly reboot: (detail: string) => void;
  readonly events?: (event: FirmwareEvent) => void;
  readonly now: () => number;
}

export function firmwareUpdater(o: FirmwareUpdaterOptions): ActorSpec<FirmwareMsg> {
  let job: { version: number; digest: Uint8Array; size: number; fetched: Partial<Record<FirmwareLabel, FetchedImage>> } | undefined;
  const emit = (phase: FirmwareEvent['phase'], version: number, detail?: string) =>
    o.events?.({
      type: 'image',
      instance: 'device',
      phase,
      purpose: 'update',
      version,
      ...(detail === undefined ? {} : { detail }),
      at: o.now(),
    });
  const fetchNext = (): void => {
    const j = job!;
    const label = FIRMWARE_LABELS.find((l) => j.fetched[l] === undefined)!;
    o.fetcher().tell({
      type: 'fetch',
      target: {
        label,
        version: j.version,
        board: o.keeper.board,
        maxBytes: Math.min(o.keeper.maxBytes(label), j.size),
        manifestDigest: j.digest,
      },
    });
  };
  const fail = (version: number, detail: string): void => {
    job = undefined;
    o.keeper.updating(version, detail);
    emit('failed', version, detail);
  };
  return {
    name: 'firmware-updater',
    capacity: 8,
    start: () => ({
      receive(msg: FirmwareMsg): void {
        switch (msg.type) {
          case 'update': {
            if (job !== undefined) return; // one at a time; the IH asks again next round
            const version = Number(msg.update.releaseVersion);
            const wants = o.keeper.wants(version);
            if (!wants.fetch) return emit('skipped', version, wants.why);
            job = { version, digest: msg.update.imageDigest, size: Number(msg.update.sizeBytes), fetched: {} };
            o.keeper.updating(version);
            emit('fetching', version);
            return fetchNext();
          }
          case 'fetched': {
            const j = job;
            if (j === undefined) return;
            if (!msg.outcome.ok) return fail(j.version, `${msg.outcome.target.label}: ${msg.outcome.detail}`);
            j.fetched[msg.outcome.target.label as FirmwareLabel] = msg.outcome.image;
            if (FIRMWARE_LABELS.some((l) => j.fetched[l] === undefined)) return fetchNext();
            const self = o.self();
            const images = j.fetched as Record<FirmwareLabel, FetchedImage>;
            void o.keeper.install(images, j.version).then(
              (refused) => self.tell({ type: 'installed', version: j.version, refused }),
              (e: unknown) => self.tell({ type: 'installed', version: j.version, refused: (e as Error).message }),
            );
            return;
          }
          case 'installed':
            job = undefined;
            if (msg.refused !== undefined) return emit('failed', msg.version, msg.refused);
            emit('installed', msg.version);
            o.reboot(`firmware release ${msg.version} installed: rebooting into it on trial`);
        }
      },
    }),
  };
}
