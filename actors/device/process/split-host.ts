/**
 * The second process of `split` placement: the hypervisor and every VM — `mm` and the services — as
 * domains of one actor system, exactly as in one process (assemble.ts `startHypervisor`), with only
 * the channel to `sw` crossing to `sw`'s process. `sw` thus never shares a process with untrusted
 * code, at the cost of one Node process instead of one per domain (docs/ARCHITECTURE.md §6 says what
 * a hostile service can still do here).
 *
 * Its stdout is the event stream `sw` reads, as for the hypervisor process of `process` placement.
 */
import type { Socket } from 'node:net';
import { linkStream } from '../../../runtime/index.ts';
import { mailboxesOf, openDomain, reportFaults, startHypervisor } from '../assemble.ts';
import { loadVmImages } from '../artifacts.ts';
import { keysAndPins, type HypervisorBootstrap } from './bootstrap.ts';
import { exitGaveUp } from './escalation.ts';
import { writeEvent } from './event-lines.ts';

export async function hostSplit(b: HypervisorBootstrap, releasePub: Uint8Array, parent: Socket): Promise<() => void> {
  const { board, images } = await loadVmImages(b.artifacts, releasePub);
  if (board.placement !== 'split') throw new Error(`the verified board ${board.id} runs ${board.placement} placement, not split`);
  const { keys, hubs } = keysAndPins(b, board.services);
  const { ActorSystem, ChannelEndpoint, RealClock } = images.hypervisor.runtime;
  const clock = new RealClock();
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
    },
    // The hypervisor gave up: this process ends, and sw resets the device.
    (domain) => exitGaveUp(domain),
  );
  return () => system.shutdown();
}
