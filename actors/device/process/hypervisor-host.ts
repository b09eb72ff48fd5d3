/**
 * The hypervisor as a process (`process` placement): its proxy, VM AWDTs and VM host from its own
 * bundle (loaded from the slot `sw` opened), and each VM — `mm` and one per service — an OS process it
 * starts, reboots and kills, with the board's heap limit for that domain. It is the VMs' bootloader
 * (hypervisor-slots.ts): every boot of a VM opens its slot, and the VM's process is started on that
 * slot, which it verifies and loads itself; a VM whose slots do not verify is held down and restored
 * from its hub, and updates are installed here. VMs reach each other only through this process: `mm`'s
 * socket for a service and the service's socket meet in a `FrameRelay` here.
 *
 * Its stdout is the event stream `sw` reads (one JSON object per line); the VMs' stdout is only logged.
 */
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { linkStream } from '../../../runtime/index.ts';
import { hex } from '../../crypto/index.ts';
import type { RebootCause } from '../../hypervisor/index.ts';
import { labelDir } from '../../slots/index.ts';
import { dataDirs, onGiveUp, openDomain, receiverRoutes, vmSlots } from '../assemble.ts';
import { vmLabels } from '../device-slots.ts';
import { bootCountOf, keysAndPins, type HypervisorBootstrap, type MmBootstrap, type ServiceBootstrap, type SlotRef } from './bootstrap.ts';
import { loadHypervisor, openVmSlots } from './hypervisor-slots.ts';
import { CrashBackoff } from './backoff.ts';
import { processVm, type ProcessVm } from './process-vm.ts';
import { FrameRelay } from './relay.ts';
import { endOnEscalation } from './escalation.ts';
import { writeEvent } from './event-lines.ts';
import { networkIsolationCheck, networkRefusal, noNetworkPrefix, spawnDomain } from './spawn.ts';
import { asUser, type DomainUser } from './users.ts';

export async function hostHypervisor(b: HypervisorBootstrap, releasePub: Uint8Array, parent: Socket): Promise<() => void> {
  const { hypervisor: hyp, board } = await loadHypervisor(b, releasePub);
  const { ActorSystem, ChannelEndpoint, RealClock } = hyp.runtime;
  const budget = board.domains.hypervisor.mailbox;
  const clock = new RealClock();
  const { keeper } = await openVmSlots(b, board, releasePub, { now: () => clock.now(), labels: vmLabels(board) });
  /** The slot a VM boots now, as the keeper opened it at this boot (VmHost asks it before every boot). */
  const openedFor = (label: string) => {
    const running = keeper.running(label);
    if (running === undefined) throw new Error(`${label} has no slot opened for this boot`);
    return running;
  };
  const imageOf = (label: string): SlotRef => {
    const running = openedFor(label);
    return { slot: running.slot, digest: hex(running.image.digest) };
  };
  // What a VM's process may read: its own label's slots (the directory its user may enter).
  const slotsOf = (label: string): string => join(b.slots, labelDir(label));
  const { keys, hubs } = keysAndPins(b, board.services);
  const system = new ActorSystem({ clock });
  endOnEscalation(system);
  const domain = openDomain(system, 'hypervisor');
  const sw = new ChannelEndpoint(hyp.channels.sw, domain, budget.inlet, 'b');
  linkStream(sw, parent);
  // The end toward mm lives across mm's reboots; each boot links it to the new process's socket.
  const mm = new ChannelEndpoint(hyp.channels.mm, domain, budget.inlet, 'a');
  const relays = new Map(
    board.services.map((s) => [s, new FrameRelay(hyp.channels.service(s).name, hyp.channels.service(s).maxFrameBytes)] as const),
  );
  // Every frame a service sends passes the hypervisor's sealer once on its way to mm (docs/ARCHITECTURE.md §3.1).
  for (const [service, relay] of relays) {
    const sealer = hyp.serviceSealer({
      contract: hyp.channels.service(service),
      deviceId: b.deviceId,
      service,
      boot: bootCountOf(b),
      key: keys.services[service]!,
      clock,
      toMm: (frame) => relay.toMm(frame),
    });
    relay.sealWith((frame) => void sealer.fromService(frame));
  }
  const common = { slots: b.slots, releasePub: b.releasePub, deviceId: b.deviceId, board: b.board };
  const log = (label: string) => (line: string) => process.stderr.write(`[${label}] ${line}\n`);
  const routes = receiverRoutes(hubs, board.services);
  const machines: ProcessVm[] = [];
  let installed: { restart: (instance: string, cause: RebootCause) => void } | undefined;
  const crashes = new CrashBackoff(clock);
  // A VM process ends on its own when its domain gives up (or crashes, or is killed): booted again from its image.
  const exited = (instance: string) => (detail: string) => {
    process.stderr.write(`[hypervisor] ${instance} ${detail}\n`);
    if (onGiveUp(instance) === 'reboot-vm') crashes.after(instance, () => installed?.restart(instance, { kind: 'exited', detail }));
  };
  const start = (label: string, vm: Parameters<typeof processVm>[0]['start'], refuse?: () => string | undefined): ProcessVm => {
    const m = processVm({
      digest: () => openedFor(label).image.digest,
      outsideReport: hyp.outsideReport,
      onExit: exited(label),
      start: vm,
      refuse,
      onRefused: (why) => process.stderr.write(`[hypervisor] ${label}: ${why}\n`),
    });
    machines.push(m);
    return m;
  };
  const userOf = (label: string): { user?: { as: DomainUser } } => {
    const user = b.users?.[label];
    return user === undefined ? {} : { user: { as: user } };
  };
  const machine = (label: string): ProcessVm => {
    if (label === 'mm') {
      return start('mm', (onExit) => {
        const boot: MmBootstrap = { ...common, image: imageOf('mm'), domain: 'mm', routes, link: b.link };
        const p = spawnDomain(b.host, boot, {
          label: 'mm',
          heapMb: board.domains.mm.heapMb,
          extraLinks: board.services.length,
          onLine: log('mm'),
          onExit,
          ...userOf('mm'),
          // Confined like a service but for the network it needs — on a board (a bundled runner); run
          // from sources, tsx would need somewhere to write its cache, and mm writes nowhere.
          ...(b.host.typescript === true ? {} : { sandbox: { reads: [slotsOf('mm')], noNetwork: false } }),
        });
        linkStream(mm, p.link);
        board.services.forEach((s, i) => relays.get(s)!.attach(0, p.extra[i]!));
        return p;
      });
    }
    const service = label.slice('sm:'.length);
    const user = b.users?.[label];
    const isolation = (): ReturnType<typeof networkIsolationCheck> =>
      networkIsolationCheck(noNetworkPrefix(user === undefined ? [] : asUser(user)));
    return start(
      label,
      (onExit) => {
        // sw made it (owned by the service's user, where there is one); made here for a device without users.
        const writeDir = dataDirs.service(b.dataDir, service);
        mkdirSync(writeDir, { recursive: true, mode: 0o700 });
        const sandbox = { writeDir, reads: [slotsOf(label)], noNetwork: isolation().ok };
        if (!sandbox.noNetwork)
          process.stderr.write(`[hypervisor] ${label}: WARNING: starts with the host network (--allow-host-network)\n`);
        const boot: ServiceBootstrap = { ...common, image: imageOf(label), domain: 'sm', service, dataDir: b.dataDir };
        const p = spawnDomain(b.host, boot, {
          label,
          heapMb: board.domains.sm.heapMb,
          onLine: log(label),
          onExit,
          sandbox,
          ...userOf(label),
        });
        relays.get(service)!.attach(1, p.link);
        return p;
      },
      () => networkRefusal(b.allowHostNetwork === true, isolation()),
    );
  };

  const hv = hyp.install({
    clock,
    domain,
    sw,
    mm,
    deviceId: b.deviceId,
    timing: board.timing,
    mailbox: budget,
    events: writeEvent,
    images: keeper,
    // sw asks the IH to grant this boot; mm alone runs until it does.
    gated: true,
    vms: vmSlots(board.services, keys, hubs, machine),
  });
  installed = hv;
  domain.start();
  hv.bootVms();
  return () => {
    for (const m of machines) m.halt();
    system.shutdown();
  };
}
