/**
 * Who may read and write which slots when the domains run as users of their own (docs/ARCHITECTURE.md
 * §6; process/users.ts). Each label's directory `<data>/slots/<label>/` is the one gate: its owner and
 * mode say who reaches the images in it, and what is inside is readable by whoever passes it (release
 * images are signed, not secret: what must be kept out is a writer, not a reader).
 *
 * - `slots/` itself: root's, traversable by every domain user, readable by the hypervisor's (it lists
 *   it to rebuild a lost boot state, and syncs it after writing a slot);
 * - `slots/sw/`: root (`sw`) only; `slots/hypervisor/`: written by root, read by the hypervisor's user
 *   (its process verifies and loads its own image);
 * - `slots/<vm>/` (`mm`, `sm-<k>`): the hypervisor's user writes it (restores, updates), the VM's own
 *   user reads it (its process verifies and loads its slot) and no other VM's user gets in;
 * - `hypervisor/` (the VMs' boot state): the hypervisor's user only; `sw/` (`sw`'s boot state, with its
 *   boot record): root only.
 *
 * `sw` (root) writes into the VMs' slots only at start, before any hypervisor process runs (the first
 * start installs the medium there): what it creates is the hypervisor user's from the start
 * (`ownedSlotFs`), so nothing is ever chowned after the fact in a tree another user controls.
 */
import { chmodSync, chownSync, constants, fchownSync, lstatSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { labelDir, nodeFs, type SlotFs } from '../slots/index.ts';
import { dataDirs } from './assemble.ts';
import type { DomainUser, DomainUsers } from './process/users.ts';

/** Slot files: readable by whoever passes the label's directory, written only by its owner. */
const SLOT_FILE_MODE = 0o644;

/** The slot store's file system: files created readable (`SLOT_FILE_MODE`), not owner-only. */
export const readableSlotFs: SlotFs = {
  ...nodeFs,
  openSync: (path, flags, mode) => nodeFs.openSync(path, flags, (flags & constants.O_CREAT) !== 0 ? SLOT_FILE_MODE : mode),
};

/**
 * `base` with every file and directory it creates given to `owner` at once (root writing into the
 * hypervisor's trees at start): files on their open descriptor, directories as they are made.
 */
export function ownedSlotFs(base: SlotFs, owner: Pick<DomainUser, 'uid' | 'gid'>): SlotFs {
  return {
    ...base,
    openSync(path, flags, mode) {
      const fd = base.openSync(path, flags, mode);
      if ((flags & constants.O_CREAT) !== 0) {
        try {
          fchownSync(fd, owner.uid, owner.gid);
        } catch (e) {
          base.closeSync(fd);
          throw e;
        }
      }
      return fd;
    },
    mkdirSync(path) {
      // The directories this call makes, from the first one down to `path` (recursive mkdir names the first).
      const first = mkdirSync(path, { recursive: true });
      if (first === undefined) return;
      const made: string[] = [];
      for (let dir = path; dir.length >= first.length; dir = dirname(dir)) made.push(dir);
      for (const dir of made.reverse()) chownSync(dir, owner.uid, owner.gid);
    },
  };
}

/**
 * Makes (and, every boot, puts right) the top of the slots' layout for `users`: each directory
 * named above, its owner and its mode. Only directories whose parent root owns, so nothing here can
 * be swapped by another user under root's hands. `users.hypervisor` must be there; a VM without a
 * user of its own (`split`: the VMs run in the hypervisor's process) is read by the hypervisor's.
 */
export function prepareSlotDirs(dataDir: string, vmLabels: readonly string[], users: DomainUsers): void {
  const hv = users.hypervisor;
  if (hv === undefined) throw new Error('the hypervisor has no user: cannot lay out the slots for domain users');
  const dir = (path: string, uid: number, gid: number, mode: number): void => {
    mkdirSync(path, { recursive: true, mode });
    // Never through a link: these are root's entries, and a link here is not one root made.
    if (lstatSync(path).isSymbolicLink()) throw new Error(`${path} is a symbolic link, not the directory the device made`);
    chownSync(path, uid, gid);
    chmodSync(path, mode);
  };
  dir(dataDirs.sw(dataDir), 0, 0, 0o700);
  const slots = join(dataDir, 'slots');
  dir(slots, 0, hv.gid, 0o751);
  dir(join(slots, labelDir('sw')), 0, 0, 0o700);
  dir(join(slots, labelDir('hypervisor')), 0, hv.gid, 0o750);
  for (const label of vmLabels) dir(join(slots, labelDir(label)), hv.uid, (users[label] ?? hv).gid, 0o750);
  // The directory of the VMs' boot state (device-slots.ts `slotPaths.vmState`).
  dir(join(dataDir, 'hypervisor'), hv.uid, hv.gid, 0o700);
}
