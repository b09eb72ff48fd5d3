/**
 * A VM as a domain of the hypervisor's own actor system (`single` placement). A boot stops the domain
 * (mailboxes discarded, timers cancelled), empties it of every actor — including any an intruder
 * spawned — but the hypervisor's own plumbing (channel inlets), and installs the clean image into a
 * fresh `image` supervisor. The inspector reads the VM's actors from the runtime, never from the VM.
 */
import type { Supervisor, SupervisorOptions } from '../../runtime/index.ts';
import type { RuntimeInfo } from '../../proto/index.ts';
import type { Inspector } from './inspector.ts';
import type { VmMachine } from './vm-host.ts';

export interface DomainVmOptions {
  /** The VM's domain (a top-level supervisor of the system the inspector reads). */
  readonly domain: Supervisor;
  /** Actors the hypervisor put in the domain itself (channel inlets), kept across boots, left out of reports. */
  readonly platformPaths: ReadonlySet<string>;
  /** Digest of the image (its code bundle) it boots now (the slot's, which an update or restore changes). */
  readonly digest: () => Uint8Array;
  /** Spawns the VM's actors into a fresh, empty supervisor; called on every boot. */
  readonly install: (image: Supervisor) => void;
  /** How the image supervisor restarts the VM's actors (the domain's own strategy). */
  readonly image?: SupervisorOptions;
  readonly inspector: Inspector;
}

export function domainMachine(o: DomainVmOptions): VmMachine {
  const image = o.domain.supervisor('image', o.image);
  let running = false;
  const stop = (): void => {
    const imagePath = image.path;
    o.domain.clear((path) => path === imagePath || o.platformPaths.has(path));
    image.clear();
  };
  return {
    boot() {
      stop();
      o.install(image);
      o.domain.start();
      running = true;
    },
    halt() {
      stop();
      running = false;
    },
    // A halted VM runs nothing to vouch for: its AWDT signs no request until it boots again.
    report: (boots: number): RuntimeInfo | undefined =>
      running ? o.inspector.report({ domain: o.domain.path, platformPaths: o.platformPaths, boots, imageDigest: o.digest() }) : undefined,
  };
}
