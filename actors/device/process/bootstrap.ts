/**
 * What a domain process is told when it starts (`process` placement): one JSON document on its
 * stdin, written by the process that spawned it and closed. Secrets travel only this way — never on
 * the command line, where `ps` shows them to every user — and each process gets only its own:
 * the hypervisor K_MM and K_SM_k, `mm` no key but the device's broker credential (in `link`, an
 * access credential for the device's own topics, docs/ARCHITECTURE.md §7.1), the services none.
 *
 * Each is also told which slot to load its own image from — the one its parent's bootloader opened
 * for this boot (`SlotRef`: `sw`'s for the hypervisor, the hypervisor's for each VM) — and the board it
 * runs; it verifies that slot itself before a byte of it runs (slot-image.ts).
 *
 * The parent end of the domain's channel is the child's fd 3 (a Unix socket pair made by spawn);
 * `mm` gets one more per service (fd 4, 5, … in the order of `services`), relayed by the hypervisor.
 */
import { validateBoard, type BoardProfile } from '../../../boards/index.ts';
import type { BootImageLike } from '../../../proto/index.ts';
import { fromHex, hex } from '../../crypto/index.ts';
import type { MqttLinkOptions, ReceiverRoute } from '../../mm/index.ts';
import { checkKeys } from '../assemble.ts';
import type { DeviceKeys, HubPins } from '../config.ts';
import type { SlotName } from '../../slots/index.ts';
import type { DomainUsers } from './users.ts';

/** How to start a domain process: `execPath args… ` plus the domain host's own arguments. */
export interface HostCommand {
  readonly execPath: string;
  /** Everything before the host's arguments, e.g. `[--import, tsx, cli/main.ts, domain-host]`. */
  readonly args: readonly string[];
  /**
   * The host runs TypeScript sources through a loader (tsx), whose hooks need a worker thread: a
   * confined service is then allowed workers. Never true for the bundled runner a board installs.
   */
  readonly typescript?: boolean;
  /** What the host command itself reads: its bundled runner file, or (run from sources) the project. */
  readonly reads: readonly string[];
}

/**
 * Which slot a domain process loads its own image from, as its parent opened it: the process reads
 * and verifies that slot itself, and runs it only if it still holds exactly this image.
 */
export interface SlotRef {
  readonly slot: SlotName;
  /** SHA-512 of the bundle the parent opened there, lower-case hex. */
  readonly digest: string;
}

/** One image of a boot request (proto/boot-images.ts `BootImageLike`) as JSON carries it. */
export interface HexBootImage {
  readonly label: string;
  readonly version: number;
  readonly digest: string;
}

interface Common {
  /** The slots' root (`<data>/slots`) and the pinned release key: each process verifies what it loads. */
  readonly slots: string;
  readonly releasePub: string;
  readonly deviceId: string;
  /** The board the device runs (its install medium's verified board.json): budgets, timing, services. */
  readonly board: BoardProfile;
  /** This process's own image. */
  readonly image: SlotRef;
}

export interface HypervisorBootstrap extends Common {
  readonly domain: 'hypervisor';
  /** `process`: each VM a process of its own, started by the hypervisor; `split`: the VMs in the hypervisor's process. */
  readonly placement: 'process' | 'split';
  /** K_MM and K_SM_k seeds, hex. */
  readonly keys: { readonly mm: string; readonly services: Readonly<Record<string, string>> };
  /** Pinned hubs, public keys in hex. */
  readonly hubs: { readonly ih: HexHubPin; readonly services: Readonly<Record<string, HexHubPin>> };
  readonly link: MqttLinkOptions;
  /** Root of persistent state: the services' `sm-<service>/`. */
  readonly dataDir: string;
  /** How the hypervisor starts `mm` and the services. */
  readonly host: HostCommand;
  /** Development only: start services with the host network where no empty network namespace can be made. */
  readonly allowHostNetwork?: boolean;
  /** The users the VM processes run as (where the device runs as root), by label. */
  readonly users?: DomainUsers;
  /**
   * Gated boot: the VMs' images `sw` asks the IH to grant, as it previewed them (actors/device/
   * vm-preview.ts). The hypervisor runs `mm` alone until granted, and refuses to boot at all if its
   * own bootloader opens other images than these.
   */
  readonly gate: readonly HexBootImage[];
  /** This boot's count (sw's boot record): the hypervisor numbers sealed service data by it. */
  readonly bootCount: number;
}

/** A pinned hub (`HubPin`) with its public key in hex, as JSON carries it. */
export interface HexHubPin {
  readonly id: string;
  readonly publicKey: string;
}

export interface MmBootstrap extends Common {
  readonly domain: 'mm';
  readonly routes: readonly ReceiverRoute[];
  readonly link: MqttLinkOptions;
}

export interface ServiceBootstrap extends Common {
  readonly domain: 'sm';
  readonly service: string;
  readonly dataDir: string;
}

export type Bootstrap = HypervisorBootstrap | MmBootstrap | ServiceBootstrap;

/** Bootstraps are a few KB; anything far bigger is not one. */
export const MAX_BOOTSTRAP_BYTES = 256 * 1024;

export class BootstrapError extends Error {
  constructor(message: string) {
    super(`domain host bootstrap: ${message}`);
    this.name = 'BootstrapError';
  }
}

/** Parses and checks the shape of a bootstrap document (the values are checked where they are used). */
export function parseBootstrap(text: string): Bootstrap {
  if (text.length > MAX_BOOTSTRAP_BYTES) throw new BootstrapError(`${text.length} bytes is more than ${MAX_BOOTSTRAP_BYTES}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new BootstrapError('not JSON'); // never the parser's message: it quotes the text, which holds keys
  }
  if (typeof doc !== 'object' || doc === null) throw new BootstrapError('not an object');
  const o = doc as Record<string, unknown>;
  for (const field of ['slots', 'releasePub', 'deviceId', 'domain'] as const) {
    if (typeof o[field] !== 'string') throw new BootstrapError(`"${field}" must be a string`);
  }
  const image = o.image as Partial<SlotRef> | undefined;
  if (
    typeof image !== 'object' ||
    image === null ||
    (image.slot !== 'a' && image.slot !== 'b') ||
    !/^[0-9a-f]{128}$/.test(String(image.digest))
  )
    throw new BootstrapError('"image" must be {slot: "a" or "b", digest: 128 lower-case hex digits}');
  try {
    validateBoard(o.board, 'bootstrap board');
  } catch (e) {
    throw new BootstrapError(`"board": ${(e as Error).message}`);
  }
  const need = (fields: readonly string[]): void => {
    for (const f of fields) if (o[f] === undefined) throw new BootstrapError(`${String(o.domain)}: "${f}" is missing`);
  };
  switch (o.domain) {
    case 'hypervisor':
      need(['keys', 'hubs', 'link', 'dataDir', 'host', 'placement', 'gate']);
      if (o.placement !== 'process' && o.placement !== 'split')
        throw new BootstrapError(`hypervisor: "placement" must be "process" or "split"`);
      if (!Array.isArray(o.gate)) throw new BootstrapError('hypervisor: "gate" must be a list of images');
      break;
    case 'mm':
      need(['routes', 'link']);
      break;
    case 'sm':
      need(['service', 'dataDir']);
      break;
    default:
      throw new BootstrapError(`unknown domain ${JSON.stringify(o.domain)}`);
  }
  return doc as Bootstrap;
}

/** The hypervisor's keys (K_MM, K_SM_k) and pins from its bootstrap, checked for every service the board runs. */
export function keysAndPins(
  b: HypervisorBootstrap,
  services: readonly string[],
): { keys: Pick<DeviceKeys, 'mm' | 'services'>; hubs: HubPins } {
  checkKeys(services, b.keys, b.hubs);
  return {
    keys: { mm: fromHex(b.keys.mm), services: Object.fromEntries(services.map((s) => [s, fromHex(b.keys.services[s]!)])) },
    hubs: {
      ih: { id: b.hubs.ih.id, publicKey: fromHex(b.hubs.ih.publicKey) },
      services: Object.fromEntries(
        services.map((s) => [s, { id: b.hubs.services[s]!.id, publicKey: fromHex(b.hubs.services[s]!.publicKey) }]),
      ),
    },
  };
}

/** A boot request's images as a bootstrap carries them, and back. */
export const hexBootImages = {
  to: (images: readonly BootImageLike[]): HexBootImage[] =>
    images.map((i) => ({ label: i.label, version: Number(i.version), digest: hex(i.digest) })),
  from: (images: readonly HexBootImage[]): BootImageLike[] =>
    images.map((i) => ({ label: i.label, version: BigInt(i.version), digest: fromHex(i.digest) })),
} as const;

/** The boot count sw put in a hypervisor's bootstrap, checked where it is used. */
export function bootCountOf(b: HypervisorBootstrap): number {
  if (typeof b.bootCount !== 'number' || !Number.isSafeInteger(b.bootCount) || b.bootCount < 0)
    throw new BootstrapError('"bootCount" must be a non-negative integer');
  return b.bootCount;
}
