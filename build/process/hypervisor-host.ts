/**
 * The hypervisor as a process (`process` placement): its proxy, VM AWDTs and VM host from its own
 * bundle, and each VM — `mm` and one per service — an OS process it starts, reboots and kills, with
 * the board's heap limit for that domain. VMs reach each other only through this process: `mm`'s
 * socket for a service and the service's socket meet in a `FrameRelay` here.
 *
 * Its stdout is the event stream `sw` reads (one JSON object per line); the VMs' stdout is only logged.
 */
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { linkStream } from '../../runtime/index.ts';
import { fromHex } from '../../actors/crypto/index.ts';
import { serviceChannel } from '../../actors/device/channels.ts';
import { loadDomain, type HypervisorModule } from '../load.ts';
import type { RebootCause } from '../../actors/hypervisor/index.ts';
import type { HypervisorBootstrap, MmBootstrap, ServiceBootstrap } from './bootstrap.ts';
import { CrashBackoff } from './backoff.ts';
import { processVm, type ProcessVm } from './process-vm.ts';
import { FrameRelay } from './relay.ts';
import { endOnEscalation } from './escalation.ts';
import { canIsolateNetwork, spawnDomain } from './spawn.ts';

/** One event line for `sw` (AWDT and VM events carry no key or ticket). */
export function writeEvent(event: object): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

export async function hostHypervisor(b: HypervisorBootstrap, releasePub: Uint8Array, parent: Socket): Promise<() => void> {
  const { module: hyp, board, digests } = await loadDomain<HypervisorModule>(b.artifacts, releasePub, 'hypervisor');
  const { ActorSystem, ChannelEndpoint, RealClock } = hyp.runtime;
  const budget = board.domains.hypervisor.mailbox;
  const clock = new RealClock();
  const system = new ActorSystem({ clock });
  endOnEscalation(system);
  const domain = system.domain('hypervisor', { priority: 1 });
  const sw = new ChannelEndpoint(hyp.channels.sw, domain, budget.inlet, 'b');
  linkStream(sw, parent);
  // The end toward mm lives across mm's reboots; each boot links it to the new process's socket.
  const mm = new ChannelEndpoint(hyp.channels.mm, domain, budget.inlet, 'a');
  const relays = new Map(board.services.map((s) => [s, new FrameRelay(`mm-sm.${s}`, serviceChannel(s).maxFrameBytes)] as const));
  const common = { artifacts: b.artifacts, releasePub: b.releasePub, deviceId: b.deviceId };
  const log = (label: string) => (line: string) => process.stderr.write(`[${label}] ${line}\n`);

  for (const s of board.services) {
    if (b.keys.services[s] === undefined || b.hubs.services[s] === undefined) throw new Error(`board ${board.id} runs service "${s}", but the bootstrap has no K_SM key or pinned hub for it`);
  }
  const routes = [
    { instance: 'device', hubId: b.hubs.ih.id },
    { instance: 'mm', hubId: b.hubs.ih.id },
    ...board.services.map((s) => ({ instance: `sm:${s}`, hubId: b.hubs.services[s]!.id })),
  ];
  const mmBoot: MmBootstrap = { ...common, domain: 'mm', routes, link: b.link };
  const machines: ProcessVm[] = [];
  let installed: { restart: (instance: string, cause: RebootCause) => void } | undefined;
  const crashes = new CrashBackoff(clock);
  const exited = (instance: string) => (detail: string) => {
    process.stderr.write(`[hypervisor] ${instance} ${detail}\n`);
    crashes.after(instance, () => installed?.restart(instance, { kind: 'exited', detail }));
  };
  const mmVm = processVm({
    digest: digests.get('mm')!,
    outsideReport: hyp.outsideReport,
    onExit: exited('mm'),
    start: (onExit) => {
      const p = spawnDomain(b.host, mmBoot, { label: 'mm', heapMb: board.domains.mm.heapMb, extraLinks: board.services.length, onLine: log('mm'), onExit });
      linkStream(mm, p.link);
      board.services.forEach((s, i) => relays.get(s)!.attach(0, p.extra[i]!));
      return p;
    },
  });
  machines.push(mmVm);
  const serviceVms = board.services.map((service) => {
    const boot: ServiceBootstrap = { ...common, domain: 'sm', service, dataDir: b.dataDir };
    const vm = processVm({
      digest: digests.get(`sm:${service}`)!,
      outsideReport: hyp.outsideReport,
      onExit: exited(`sm:${service}`),
      start: (onExit) => {
        const writeDir = join(b.dataDir, `sm-${service}`);
        mkdirSync(writeDir, { recursive: true, mode: 0o700 });
        const sandbox = { writeDir, noNetwork: canIsolateNetwork() };
        const p = spawnDomain(b.host, boot, { label: `sm:${service}`, heapMb: board.domains.sm.heapMb, onLine: log(`sm:${service}`), onExit, sandbox });
        relays.get(service)!.attach(1, p.link);
        return p;
      },
    });
    machines.push(vm);
    return { service, vm };
  });

  const hv = hyp.install({
    clock,
    domain,
    sw,
    mm,
    deviceId: b.deviceId,
    timing: board.timing,
    mailbox: budget,
    events: writeEvent,
    vms: [
      { instance: 'mm', machine: mmVm, key: fromHex(b.keys.mm), hub: fromHex(b.hubs.ih.publicKey) },
      ...serviceVms.map(({ service, vm }) => ({ instance: `sm:${service}`, machine: vm, key: fromHex(b.keys.services[service]!), hub: fromHex(b.hubs.services[service]!.publicKey) })),
    ],
  });
  installed = hv;
  domain.start();
  hv.bootVms();
  return () => {
    for (const m of machines) m.halt();
    system.shutdown();
  };
}
