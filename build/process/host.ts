/**
 * A domain process (`process` placement): `dominion domain-host`, started by its parent domain —
 * the hypervisor by `sw`, `mm` and each service by the hypervisor — never by hand. It reads its
 * bootstrap from stdin, verifies the artifacts against the pinned release key and imports its own
 * bundle only, builds its channel ends from that bundle's code on the sockets it inherited, and runs.
 *
 * When its parent's socket closes (the parent died, or rebooted this VM), it exits: a domain never
 * outlives the domain that dominates it.
 */
import { join } from 'node:path';
import { Socket } from 'node:net';
import { linkStream } from '../../runtime/index.ts';
import { fromHex } from '../../actors/crypto/index.ts';
import { loadDomain, type MmModule, type ServiceModule } from '../load.ts';
import { BootstrapError, MAX_BOOTSTRAP_BYTES, parseBootstrap, type MmBootstrap, type ServiceBootstrap } from './bootstrap.ts';
import { endOnEscalation } from './escalation.ts';
import { hostHypervisor } from './hypervisor-host.ts';

/** fd 3: the channel to the parent domain; fd 4…: mm's service channels. */
export const PARENT_FD = 3;

export function inheritedSocket(fd: number): Socket {
  const socket = new Socket({ fd, readable: true, writable: true });
  socket.on('error', () => {}); // shows as 'close'
  return socket;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.length > MAX_BOOTSTRAP_BYTES) throw new BootstrapError(`stdin holds more than ${MAX_BOOTSTRAP_BYTES} bytes`);
  }
  return text;
}

/** Runs this process as the domain its bootstrap names; resolves once it runs. */
export async function runDomainHost(): Promise<void> {
  const boot = parseBootstrap(await readStdin());
  const parent = inheritedSocket(PARENT_FD);
  const releasePub = fromHex(boot.releasePub);
  let stop = (): void => {};
  parent.on('close', () => {
    stop();
    process.exit(0);
  });
  switch (boot.domain) {
    case 'hypervisor':
      stop = await hostHypervisor(boot, releasePub, parent);
      break;
    case 'mm':
      stop = await hostMm(boot, releasePub, parent);
      break;
    case 'sm':
      stop = await hostService(boot, releasePub, parent);
      break;
  }
}

async function hostMm(b: MmBootstrap, releasePub: Uint8Array, parent: Socket): Promise<() => void> {
  const { module: mm, board } = await loadDomain<MmModule>(b.artifacts, releasePub, 'mm');
  const { ActorSystem, ChannelEndpoint, RealClock } = mm.runtime;
  const budget = board.domains.mm.mailbox;
  const system = new ActorSystem({ clock: new RealClock() });
  endOnEscalation(system);
  const domain = system.domain('mm', { priority: 2, strategy: 'one-for-all' });
  const hypervisor = new ChannelEndpoint(mm.channels.hypervisor, domain, budget.inlet, 'b');
  linkStream(hypervisor, parent);
  const services = board.services.map((name, i) => {
    const endpoint = new ChannelEndpoint(mm.channels.service(name), domain, budget.inlet, 'a');
    linkStream(endpoint, inheritedSocket(PARENT_FD + 1 + i));
    return { name, endpoint };
  });
  mm.install({ image: domain.supervisor('image'), hypervisor, services, routes: b.routes, timing: board.timing, mailbox: budget, link: b.link });
  domain.start();
  return () => system.shutdown();
}

async function hostService(b: ServiceBootstrap, releasePub: Uint8Array, parent: Socket): Promise<() => void> {
  const { module: sm, board } = await loadDomain<ServiceModule>(b.artifacts, releasePub, `sm:${b.service}`);
  const { ActorSystem, ChannelEndpoint, RealClock } = sm.runtime;
  const budget = board.domains.sm.mailbox;
  const system = new ActorSystem({ clock: new RealClock() });
  endOnEscalation(system);
  const domain = system.domain(`sm:${b.service}`, { priority: 3 });
  const end = new ChannelEndpoint(sm.channels.mm, domain, budget.inlet, 'b');
  linkStream(end, parent);
  sm.install({ image: domain.supervisor('image'), mm: end, dataDir: join(b.dataDir, `sm-${b.service}`), mailbox: budget, options: { periodMs: board.timing.intervalMs } });
  domain.start();
  return () => system.shutdown();
}
