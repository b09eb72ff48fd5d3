/**
 * `dominion broker-sync` (docs/ARCHITECTURE.md §7.1): the broker's password_file and acl_file, made
 * from the hubs' databases — the IH's (its own account and its devices') and each SH's (its own) —
 * written atomically (a temporary file in the same directory, then rename: the broker never reads
 * half a file) and, when asked, the broker told to reload them (SIGHUP: Mosquitto 2.0 rereads both).
 *
 * A new file gets mode 0640 (passwd: hashes only) or 0644 (acl); a file that exists keeps its mode
 * and, when we run as root, its owner and group, so an operator can `chown root:mosquitto` once.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { renderAclFile, renderPasswordFile, usernameOf, type BrokerUser, type Principal } from '../broker-auth/index.ts';
import { brokerUsers, openHubDatabase, type BrokerAccounts } from './sqlite/index.ts';

export class BrokerSyncError extends Error {
  override readonly name = 'BrokerSyncError';
}

export interface BrokerSyncOptions {
  /** Hub databases: one IH's and any SHs'. */
  readonly dbs: readonly string[];
  /** Where `passwd` and `acl` go. */
  readonly outDir: string;
  /** The broker's process id to send SIGHUP, or a file holding it. */
  readonly pid?: number;
  readonly pidFile?: string;
}

export interface BrokerSyncResult {
  readonly passwdPath: string;
  readonly aclPath: string;
  readonly devices: number;
  readonly hubs: readonly string[];
  /** Hubs seen without a broker account of their own (they cannot connect until one is stored). */
  readonly hubsWithoutCredential: readonly string[];
  /** The process sent SIGHUP, if any. */
  readonly signalled?: number;
}

type HubPrincipal = Extract<Principal, { kind: 'hub' }>;

/**
 * Every broker account the databases hold, and every hub they belong to: what both brokers are
 * given (Mosquitto as files, the embedded Aedes as a `BrokerAuthorizer`). SQLite files only; the
 * CLI reads PostgreSQL hubs itself (pgBrokerUsers) and merges with `mergeBrokerAccounts`.
 */
export function collectBrokerAccounts(dbs: readonly string[]): CollectedAccounts {
  if (dbs.length === 0) throw new BrokerSyncError('at least one hub database is needed');
  return mergeBrokerAccounts(
    dbs.map((path) => {
      const db = openHubDatabase(path);
      try {
        return { where: path, accounts: brokerUsers(db) };
      } finally {
        db.close();
      }
    }),
  );
}

export interface CollectedAccounts {
  readonly users: BrokerUser[];
  readonly hubs: HubPrincipal[];
}

/** Several hubs' accounts as one broker's: a hub with two roles, or a user with two passwords, is refused. */
export function mergeBrokerAccounts(each: ReadonlyArray<{ readonly where: string; readonly accounts: BrokerAccounts }>): CollectedAccounts {
  const users = new Map<string, BrokerUser>();
  const hubs = new Map<string, HubPrincipal>();
  for (const { where, accounts } of each) {
    const hub: HubPrincipal = { kind: 'hub', hubId: accounts.hub.hubId, role: accounts.hub.role };
    const known = hubs.get(hub.hubId);
    if (known !== undefined && JSON.stringify(known.role) !== JSON.stringify(hub.role))
      throw new BrokerSyncError(`hub ${hub.hubId} appears with two roles (${where})`);
    hubs.set(hub.hubId, hub);
    for (const u of accounts.users) {
      const name = usernameOf(u.principal);
      const prior = users.get(name);
      if (prior !== undefined && prior.passwordHash !== u.passwordHash)
        throw new BrokerSyncError(`broker user ${name} has different passwords in two databases (${where}): enrol it in one IH only`);
      users.set(name, u);
    }
  }
  return { users: [...users.values()], hubs: [...hubs.values()] };
}

export function syncBrokerFiles(options: BrokerSyncOptions): BrokerSyncResult {
  return writeBrokerFiles(collectBrokerAccounts(options.dbs), options);
}

/** Writes `passwd` and `acl` for these accounts into `outDir`, and signals the broker if asked. */
export function writeBrokerFiles(accounts: CollectedAccounts, options: Omit<BrokerSyncOptions, 'dbs'>): BrokerSyncResult {
  const { users: list, hubs: hubList } = accounts;
  const users = new Map(list.map((u) => [usernameOf(u.principal), u]));
  const hubs = new Map(hubList.map((h) => [h.hubId, h]));
  const passwd = renderPasswordFile(list);
  const acl = renderAclFile(hubList);
  const passwdPath = join(options.outDir, 'passwd');
  const aclPath = join(options.outDir, 'acl');
  writeAtomically(passwdPath, passwd, 0o640);
  writeAtomically(aclPath, acl, 0o644);
  const pid = options.pid ?? (options.pidFile !== undefined ? readPid(options.pidFile) : undefined);
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      throw new BrokerSyncError(
        `files written, but the broker (pid ${pid}) could not be told to reload: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  const withAccount = new Set([...users.values()].flatMap((u) => (u.principal.kind === 'hub' ? [u.principal.hubId] : [])));
  return {
    passwdPath,
    aclPath,
    devices: [...users.values()].filter((u) => u.principal.kind === 'device').length,
    hubs: [...hubs.keys()].sort(),
    hubsWithoutCredential: [...hubs.keys()].filter((h) => !withAccount.has(h)).sort(),
    ...(pid !== undefined ? { signalled: pid } : {}),
  };
}

function readPid(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new BrokerSyncError(`${path}: cannot read the broker's pid file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!/^[1-9][0-9]{0,9}$/.test(text)) throw new BrokerSyncError(`${path}: not a process id`);
  return Number(text);
}

function writeAtomically(path: string, text: string, newMode: number): void {
  let mode = newMode;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = statSync(path);
    mode = st.mode & 0o777;
    owner = { uid: st.uid, gid: st.gid };
  } catch {
    // a new file
  }
  const temp = `${path}.${process.pid}.tmp`;
  let fd: number;
  try {
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  } catch (err) {
    throw new BrokerSyncError(`${temp}: cannot create (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(temp, mode); // umask cannot have narrowed what we meant
    if (owner !== undefined && process.getuid?.() === 0) chownSync(temp, owner.uid, owner.gid);
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw new BrokerSyncError(`${path}: cannot replace (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
