/**
 * A domain process (`process` placement): `dominion domain-host`, started by its parent domain —
 * the hypervisor by `sw`, `mm` and each service by the hypervisor — never by hand. It reads its
 * bootstrap from stdin, verifies the slot its parent opened for it against the pinned release key
 * (slot-image.ts) and imports that bundle only, builds its channel ends from that bundle's code on the
 * sockets it inherited, and runs.
 *
 * When its parent's socket closes (the parent died, or rebooted this VM), it exits: a domain never
 * outlives the domain that dominates it.
 */
import { Socket } from 'node:net';
import { linkStream } from '../../../runtime/index.ts';
import { serviceInstance } from '../../../proto/index.ts';
import { fromHex } from '../../crypto/index.ts';
import { imageOptions, mmInstaller, openDomain, serviceInstaller } from '../assemble.ts';
import { validateBoard } from '../../../boards/index.ts';
import type { MmImage, ServiceImage } from '../images.ts';
import { BootstrapError, MAX_BOOTSTRAP_BYTES, parseBootstrap, type MmBootstrap, type ServiceBootstrap } from './bootstrap.ts';
import { endOnEscalation } from './escalation.ts';
import { hostHypervisor } from './hypervisor-host.ts';
import { loadSlotImage } from './slot-image.ts';
import { hostSplit } from './split-host.ts';

/** fd 3: the channel to the parent domain; fd 4…: mm's service channels. */
const PARENT_FD = 3;

function inheritedSocket(fd: number): Socket {
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
    // Whatever stopping does (or throws), the domain never outlives its parent.
    try {
      stop();
    } finally {
      process.exit(0);
    }
  });
  switch (boot.domain) {
    case 'hypervisor':
      stop = boot.placement === 'split' ? await hostSplit(boot, releasePub, parent) : await hostHypervisor(boot, releasePub, parent);
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
  const board = validateBoard(b.board, 'bootstrap board');
  const { module: mm } = await loadSlotImage<MmImage>(b.slots, 'mm', b.image, releasePub, board);
  const { ActorSystem, ChannelEndpoint, RealClock } = mm.runtime;
  const budget = board.domains.mm.mailbox;
  const system = new ActorSystem({ clock: new RealClock() });
  endOnEscalation(system);
  const domain = openDomain(system, 'mm');
  const hypervisor = new ChannelEndpoint(mm.channels.hypervisor, domain, budget.inlet, 'b');
  linkStream(hypervisor, parent);
  const services = board.services.map((name, i) => {
    const endpoint = new ChannelEndpoint(mm.channels.service(name), domain, budget.inlet, 'a');
    linkStream(endpoint, inheritedSocket(PARENT_FD + 1 + i));
    return { name, endpoint };
  });
  mmInstaller(mm, { hypervisor, services, routes: b.routes, timing: board.timing, mailbox: budget, link: b.link })(
    domain.supervisor('image', imageOptions('mm')),
  );
  domain.start();
  return () => system.shutdown();
}

async function hostService(b: ServiceBootstrap, releasePub: Uint8Array, parent: Socket): Promise<() => void> {
  const label = serviceInstance(b.service);
  const board = validateBoard(b.board, 'bootstrap board');
  const { module: sm } = await loadSlotImage<ServiceImage>(b.slots, label, b.image, releasePub, board);
  const { ActorSystem, ChannelEndpoint, RealClock } = sm.runtime;
  const budget = board.domains.sm.mailbox;
  const system = new ActorSystem({ clock: new RealClock() });
  endOnEscalation(system);
  const domain = openDomain(system, label);
  const endpoint = new ChannelEndpoint(sm.channels.mm, domain, budget.inlet, 'b');
  linkStream(endpoint, parent);
  serviceInstaller(sm, { endpoint, dataDir: b.dataDir, mailbox: budget, intervalMs: board.timing.intervalMs })(
    domain.supervisor('image', imageOptions(label)),
  );
  domain.start();
  return () => system.shutdown();
}
