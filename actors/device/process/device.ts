/**
 * A device in `process` placement (docs/ARCHITECTURE.md §6), as `dominion device` runs it: this process is
 * `sw` — it owns the watchdog, K_I and the boot record, and arms the device AWDT first — and it starts
 * the hypervisor as a process of its own, which starts `mm` and the services. Every channel is a Unix
 * socket.
 *
 * It boots from slots (docs/ARCHITECTURE.md §5), as the `single` placement does (../slotted.ts): each
 * boot, `sw`'s bootloader opens `sw`'s and the hypervisor's slots (taking a trial's tries), `sw` runs
 * from the module loaded from its slot, previews what the hypervisor's bootloader will open for the
 * VMs (../vm-preview.ts), and asks the IH to grant exactly those images; the hypervisor process is
 * started on its slot, verifies and loads it itself, and starts each VM's process on the slot it opened
 * for it. Every domain process imports its own bundle only.
 *
 * A simulated reset kills the hypervisor, and with it every VM (each exits when its parent's socket
 * closes). A hypervisor process that ends on its own resets the device at once (CHECK_FAILED): `sw`
 * does not restart the domain that dominates the VMs in place, it boots the whole device again.
 */
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { linkStream, type Clock } from '../../../runtime/index.ts';
import type { BoardProfile } from '../../../boards/index.ts';
import { ResetReason, serviceInstance } from '../../../proto/index.ts';
import { hex } from '../../crypto/index.ts';
import type { MqttLinkOptions } from '../../mm/index.ts';
import { bootSw, checkKeys, dataDirs, GAVE_UP, onGiveUp, openDomain, processBudget } from '../assemble.ts';
import { domainUsers, type DomainUsers } from './users.ts';
import type { DeviceKeys, HubPins } from '../config.ts';
import { slotPaths, vmLabels } from '../device-slots.ts';
import type { SwImage } from '../images.ts';
import type { Placement } from '../runner.ts';
import { prepareSlotDirs } from '../slot-access.ts';
import { openFirmware, type SlottedImages } from '../slotted.ts';
import { previewVmImages } from '../vm-preview.ts';
import { hexBootImages, type HostCommand, type HypervisorBootstrap } from './bootstrap.ts';
import { parseEventLine, type HypervisorEvent } from './event-lines.ts';
import { spawnDomain } from './spawn.ts';

export interface ProcessDeviceOptions {
  /**
   * The device's slots as `prepareSlots` left them at start (with the users of `usersFor`): `sw`'s
   * code loaded from them, the board and the pinned release key every domain process verifies with.
   */
  readonly slotted: SlottedImages;
  readonly deviceId: string;
  readonly keys: DeviceKeys;
  readonly hubs: HubPins;
  readonly link: MqttLinkOptions;
  readonly clock: Clock;
  readonly dataDir: string;
  /** How domain processes are started (`hostCommandOfThisProcess()` for `dominion device`). */
  readonly host: HostCommand;
  /** Development only: services may run with the host network where no network namespace can be made. */
  readonly allowHostNetwork?: boolean;
  /** The domain processes' users; default: looked up where this process is root (users.ts), none otherwise. */
  readonly users?: DomainUsers;
  /** Development only: run every domain as this process's user, even as root. */
  readonly sameUser?: boolean;
}

/**
 * The users the domain processes run as: looked up where this process is root (users.ts; a missing
 * one throws DomainUserError), none otherwise or with `sameUser`.
 */
export function usersFor(
  board: Pick<BoardProfile, 'id' | 'placement' | 'services'>,
  o: Pick<ProcessDeviceOptions, 'users' | 'sameUser'>,
): DomainUsers | undefined {
  if (o.sameUser === true) return undefined;
  return o.users ?? (process.getuid?.() === 0 ? domainUsers(board) : undefined);
}

/** The hypervisor's clock is its own: its times are moved onto `sw`'s, keeping their distances. */
function onThisClock(e: HypervisorEvent, now: number): HypervisorEvent {
  const shift = now - e.at;
  return 'deadline' in e ? { ...e, at: now, deadline: e.deadline + shift } : { ...e, at: now };
}

/**
 * The `process` and `split` placements: this process is `sw`; the hypervisor (with its VMs, in
 * `split`) is a process of its own. Where this process runs as root, every other domain process runs
 * as its own user (users.ts), and a missing user is refused here, before anything boots.
 */
export function processPlacement(o: ProcessDeviceOptions): Placement {
  const { board, slots, modules, releasePublicKey } = o.slotted;
  const users = usersFor(board, o);
  return (hooks) => {
    checkKeys(board.services, o.keys, o.hubs);
    if (users !== undefined) prepareDataDirs(o.dataDir, board, users);
    const now = () => o.clock.now();
    // The hypervisor's image is loaded by its own process, never here: only sw's is imported in sw's.
    const firmware = openFirmware(o.slotted, hooks.events, now, async (label, image, bytes) => {
      if (label === 'sw') await modules.add(label, image, bytes);
    });
    const vmImages = previewVmImages(slots.store, o.dataDir, vmLabels(board), releasePublicKey, board);
    const swImage = modules.get<SwImage>(firmware.sw.image.digest);
    const { ActorSystem, ChannelEndpoint } = swImage.runtime;
    const system = new ActorSystem({ clock: o.clock });
    const sw = openDomain(system, 'sw');
    const toHypervisor = new ChannelEndpoint(swImage.channels.hypervisor, sw, board.domains.sw.mailbox.inlet, 'a');
    const { watchdog, record } = bootSw(swImage, {
      ...o,
      reboot: hooks.reboot,
      events: hooks.events,
      booted: (record) => hooks.events({ type: 'boot', bootCount: record.bootCount, lastResetReason: record.lastResetReason, at: now() }),
      domain: sw,
      hypervisor: toHypervisor,
      deviceKey: o.keys.device,
      ihPublicKey: o.hubs.ih.publicKey,
      timing: board.timing,
      mailbox: board.domains.sw.mailbox,
      watchdog: board.watchdog,
      version: firmware.sw.image.manifest.version,
      manifestDigest: firmware.sw.image.manifestDigest,
      hypervisorDigest: firmware.hypervisor.image.digest,
      // Fixed for the boot: the hypervisor's process owns the VMs' slots; sw previewed them once (vm-preview.ts).
      gate: { images: () => [...firmware.images, ...vmImages], retryMs: board.timing.intervalMs },
      slots: firmware.reports,
      firmware: firmware.keeper,
    });
    // Only sw's own domain lives in this system; the hypervisor giving up ends its process (below).
    system.onEscalation((domain) => watchdog.reset(ResetReason.CHECK_FAILED, `${domain.path} ${GAVE_UP}`));

    if (board.placement === 'single') throw new Error(`board ${board.id} runs single placement: not a placement with processes`);
    const bootstrap: HypervisorBootstrap = {
      domain: 'hypervisor',
      placement: board.placement,
      slots: slotPaths.slots(o.dataDir),
      releasePub: hex(releasePublicKey),
      deviceId: o.deviceId,
      board,
      image: { slot: firmware.hypervisor.slot, digest: hex(firmware.hypervisor.image.digest) },
      gate: hexBootImages.to(vmImages),
      bootCount: record.bootCount,
      keys: { mm: hex(o.keys.mm), services: Object.fromEntries(board.services.map((s) => [s, hex(o.keys.services[s]!)])) },
      hubs: {
        ih: { id: o.hubs.ih.id, publicKey: hex(o.hubs.ih.publicKey) },
        services: Object.fromEntries(Object.entries(o.hubs.services).map(([s, p]) => [s, { id: p.id, publicKey: hex(p.publicKey) }])),
      },
      link: o.link,
      dataDir: o.dataDir,
      host: o.host,
      ...(o.allowHostNetwork === true ? { allowHostNetwork: true } : {}),
      ...(users !== undefined ? { users: Object.fromEntries(Object.entries(users).filter(([label]) => label !== 'hypervisor')) } : {}),
    };
    let stopping = false;
    const hypervisor = spawnDomain(o.host, bootstrap, {
      label: 'hypervisor',
      heapMb: processBudget(board, 'hypervisor').heapMb,
      // split: the process that runs untrusted code, confined like a service but for mm's network —
      // on a board (a bundled runner); run from sources, tsx would need somewhere to write its cache.
      // process: the hypervisor too, where it fits — it writes only the data directory (its VMs'
      // slots and boot state, the services' directories), and starts processes (its VMs). It reads
      // its own slot there too; what the OS lets its user into is slot-access.ts's.
      ...(o.host.typescript !== true
        ? {
            sandbox: {
              // process: /proc too, where its inspector reads each VM process's memory use.
              reads: board.placement === 'process' ? ['/proc'] : [],
              writeDir: o.dataDir,
              noNetwork: false,
              childProcesses: board.placement === 'process',
            },
          }
        : {}),
      // In `process` placement it starts the VMs as their users and stops them: those capabilities only.
      ...(users !== undefined
        ? { user: { as: users.hypervisor!, caps: board.placement === 'process' ? (['setuid', 'setgid', 'kill'] as const) : [] } }
        : {}),
      onExit: (code, signal) => {
        // The hypervisor's process ends when its domain gives up, or when it is killed: either way, as giving up.
        if (!stopping && onGiveUp('hypervisor') === 'reset-device')
          watchdog.reset(
            ResetReason.CHECK_FAILED,
            `the hypervisor process ${signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`}`,
          );
      },
      onLine: (line) => {
        const event = parseEventLine(line);
        if (event !== undefined) hooks.events(onThisClock(event, o.clock.now()));
        else process.stderr.write(`[hypervisor] ${line}\n`);
      },
    });
    linkStream(toHypervisor, hypervisor.link);
    return {
      shutdown: () => {
        stopping = true;
        hypervisor.kill();
        system.shutdown();
      },
    };
  };
}

/**
 * The data directory as the domains' users need it: the root traversable, `sw/` for sw (root) alone,
 * each `sm-<service>/` owned by that service's user (split: by the hypervisor's, which runs it), and
 * the slots and the VMs' boot state as slot-access.ts lays them out.
 */
function prepareDataDirs(root: string, board: BoardProfile, users: DomainUsers): void {
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o711);
  // sw/ too (slot-access.ts): root's alone.
  prepareSlotDirs(root, vmLabels(board), users);
  for (const s of board.services) {
    const dir = dataDirs.service(root, s);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const owner = users[serviceInstance(s)] ?? users.hypervisor!;
    chownSync(dir, owner.uid, owner.gid);
    chmodSync(dir, 0o700);
  }
}
