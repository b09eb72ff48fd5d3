/**
 * A Unix user per domain process (docs/ARCHITECTURE.md §1, §6): where the device runs as root, `sw`
 * stays root (it holds the watchdog and starts the others) and every other domain process runs as a
 * user of its own, so no domain can read another's files, its `/proc/<pid>/{mem,environ}`, or signal
 * it. The users are system users without a login; `dominion users --create` (or the installer)
 * makes them, and a device running as root refuses to start without them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { serviceInstance } from '../../../proto/index.ts';
import type { BoardProfile } from '../../../boards/index.ts';

export interface DomainUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The domain processes' users by label (`hypervisor`, `mm`, `sm:<service>`). */
export type DomainUsers = Readonly<Record<string, DomainUser>>;

/** Linux user names are at most 32 characters. */
const NAME_MAX = 32;

/** The user a domain process runs as: `dominion-hv`, `dominion-mm`, `dominion-sm-<service>`. */
export function domainUserName(label: string): string {
  if (label === 'hypervisor') return 'dominion-hv';
  if (label === 'mm') return 'dominion-mm';
  const service = label.slice('sm:'.length);
  const name = `dominion-sm-${service}`;
  // A long service name: a stable name from its hash, still one user per service.
  return name.length <= NAME_MAX
    ? name
    : `dominion-sm-${createHash('sha256')
        .update(service)
        .digest('hex')
        .slice(0, NAME_MAX - 12)}`;
}

/** The labels of a board's domain processes other than `sw`: one for `split`, one per domain for `process`. */
export function processLabels(board: Pick<BoardProfile, 'placement' | 'services'>): string[] {
  if (board.placement === 'single') return [];
  return board.placement === 'split' ? ['hypervisor'] : ['hypervisor', 'mm', ...board.services.map(serviceInstance)];
}

export class DomainUserError extends Error {
  override readonly name = 'DomainUserError';
}

/** `name`'s uid and gid from a passwd file's text, if it is there. */
export function findUser(passwd: string, name: string): DomainUser | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/**
 * The users of `board`'s domain processes, each of which must exist; throws DomainUserError naming
 * the missing ones and how to create them.
 */
export function domainUsers(
  board: Pick<BoardProfile, 'id' | 'placement' | 'services'>,
  passwd = readFileSync('/etc/passwd', 'utf8'),
): DomainUsers {
  const users: Record<string, DomainUser> = {};
  const missing: string[] = [];
  for (const label of processLabels(board)) {
    const user = findUser(passwd, domainUserName(label));
    if (user === undefined) missing.push(domainUserName(label));
    else users[label] = user;
  }
  if (missing.length > 0) {
    throw new DomainUserError(
      `running as root, each domain process runs as a user of its own, and ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist: create them with "dominion users --board ${board.id} --create"`,
    );
  }
  return users;
}

/** Creates the users of `board`'s domain processes that do not exist yet (system users, no login, no home); returns those created. */
export function createDomainUsers(board: Pick<BoardProfile, 'placement' | 'services'>): string[] {
  const created: string[] = [];
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const label of processLabels(board)) {
    const name = domainUserName(label);
    if (findUser(passwd, name) !== undefined) continue;
    const r = spawnSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0)
      throw new DomainUserError(`useradd ${name} failed: ${(r.stderr || r.error?.message || `exit ${String(r.status)}`).trim()}`);
    created.push(name);
  }
  return created;
}

/**
 * The command prefix that runs a program as `user` (util-linux `setpriv`), with supplementary groups
 * cleared. `caps` are kept (inheritable and ambient) for a process that must itself start domain
 * processes as their users (the hypervisor of `process` placement: setuid, setgid, kill); any other
 * runs with no capabilities and no way to gain any (no_new_privs).
 */
export function asUser(user: DomainUser, caps: readonly ('setuid' | 'setgid' | 'kill')[] = []): string[] {
  const keep = caps.map((c) => `+${c}`).join(',');
  return [
    'setpriv',
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    ...(caps.length > 0 ? [`--inh-caps=${keep}`, `--ambient-caps=${keep}`] : ['--inh-caps=-all', '--ambient-caps=-all', '--no-new-privs']),
    '--',
  ];
}
