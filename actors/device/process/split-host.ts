/**
 * The second process of `split` placement: the hypervisor and every VM — `mm` and the services — as
 * domains of one actor system, exactly as in one process (assemble.ts `startHypervisor`), with only
 * the channel to `sw` crossing to `sw`'s process. `sw` thus never shares a process with untrusted
 * code, at the cost of one Node process instead of one per domain (docs/ARCHITECTURE.md §6 says what
 * a hostile service can still do here).
 *
 * As in `process` placement it boots from slots: the hypervisor from the slot `sw` opened, the VMs
 * from theirs, opened by this process as their bootloader (hypervisor-slots.ts) and loaded here, each
 * from its verified bytes (device-slots.ts `ModuleCache`); a restored or updated image is loaded as it
 * is installed, before its VM boots on it.
 *
 * Its stdout is the event stream `sw` reads, as for the hypervisor process of `process` placement.
 */
import type { Socket } from 'node:net';
import { linkStream } from '../../../runtime/index.ts';
import { mailboxesOf, openDomain, reportFaults, startHypervisor } from '../assemble.ts';
import { ModuleCache, vmLabels } from '../device-slots.ts';
import { vmModules } from '../slotted.ts';
import { bootCountOf, keysAndPins, type HypervisorBootstrap } from './bootstrap.ts';
import { loadHypervisor, openVmSlots } from './hypervisor-slots.ts';
import { exitGaveUp } from './escalation.ts';
import { writeEvent } from './event-lines.ts';

export async function hostSplit(b: HypervisorBootstrap, releasePub: Uint8Array, parent: Socket): Promise<() => void> {
  const { hypervisor, image, board } = await loadHypervisor(b, releasePub);
  const { keys, hubs } = keysAndPins(b, board.services);
  const { ActorSystem, ChannelEndpoint, RealClock } = hypervisor.runtime;
  const clock = new RealClock();
  const modules = new ModuleCache();
  const vms = await openVmSlots(b, board, releasePub, { now: () => clock.now(), modules, labels: vmLabels(board) });
  const { mm, services } = vmModules(board, modules, vms.images);
  const images = {
    hypervisor,
    mm,
    services,
    // A VM held for a restore reports nothing until it runs again, so its image's digest is never asked for.
    digests: new Map(vms.images.map((i) => [i.label, i.digest] as const)),
    version: image.manifest.version,
    manifestDigest: image.manifestDigest,
  };
  const system = new ActorSystem({ clock });
  reportFaults(system, (path, error) =>
    process.stderr.write(`[hypervisor] fault in ${path}: ${error instanceof Error ? error.message : String(error)}\n`),
  );
  const hyp = openDomain(system, 'hypervisor');
  const sw = new ChannelEndpoint(images.hypervisor.channels.sw, hyp, board.domains.hypervisor.mailbox.inlet, 'b');
  linkStream(sw, parent);
  startHypervisor(
    system,
    hyp,
    sw,
    {
      images,
      deviceId: b.deviceId,
      keys,
      hubs,
      timing: board.timing,
      mailboxes: mailboxesOf(board),
      link: b.link,
      clock,
      dataDir: b.dataDir,
      events: writeEvent,
      vmSlots: { keeper: vms.keeper, modules },
      // sw asks the IH to grant this boot; mm alone runs until it does.
      gated: true,
      bootCount: bootCountOf(b),
    },
    // The hypervisor gave up: this process ends, and sw resets the device.
    (domain) => exitGaveUp(domain),
  );
  return () => system.shutdown();
}
