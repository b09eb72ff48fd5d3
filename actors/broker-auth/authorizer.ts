/**
 * The rule table (rules.ts) applied in process, for the embedded broker's hooks (actors/mqtt/broker.ts:
 * Aedes `authenticate`, `authorizePublish`, `authorizeSubscribe`), with the same password hashes
 * Mosquitto reads (docs/ARCHITECTURE.md §7.1). Same semantics as Mosquitto's acl_file: a publish is
 * allowed when a `write` rule's filter matches the topic; a subscription when a `read` rule's filter
 * covers every topic the subscription filter could match (`$share/<group>/` stripped first).
 */
import { verifyPassword } from './password-hash.ts';
import { usernameOf } from './principal.ts';
import { rulesFor, type BrokerUser } from './acl-file.ts';

interface Compiled {
  readonly passwordHash: string;
  readonly read: readonly string[][];
  readonly write: readonly string[][];
}

export class BrokerAuthorizer {
  private users = new Map<string, Compiled>();

  constructor(users: readonly BrokerUser[] = []) {
    this.replaceUsers(users);
  }

  /** Swaps the whole user set at once (the in-process equivalent of a SIGHUP reload). */
  replaceUsers(users: readonly BrokerUser[]): void {
    const next = new Map<string, Compiled>();
    for (const u of users) {
      const name = usernameOf(u.principal);
      const rules = rulesFor(u.principal).map((r) => ({ ...r, levels: r.topic.replaceAll('%u', name).split('/') }));
      next.set(name, {
        passwordHash: u.passwordHash,
        read: rules.filter((r) => r.access !== 'write').map((r) => r.levels),
        write: rules.filter((r) => r.access !== 'read').map((r) => r.levels),
      });
    }
    this.users = next;
  }

  /** True when `username` exists and `password` matches its hash. Anonymous clients are refused. */
  authenticate(username: string | undefined, password: Uint8Array | string | undefined): boolean {
    if (username === undefined || password === undefined) return false;
    const user = this.users.get(username);
    return user !== undefined && verifyPassword(password, user.passwordHash);
  }

  mayPublish(username: string | undefined, topic: string): boolean {
    const user = username === undefined ? undefined : this.users.get(username);
    if (user === undefined || topic.includes('+') || topic.includes('#')) return false;
    const levels = topic.split('/');
    return user.write.some((f) => matches(f, levels));
  }

  maySubscribe(username: string | undefined, filter: string): boolean {
    const user = username === undefined ? undefined : this.users.get(username);
    if (user === undefined) return false;
    const levels = stripShare(filter).split('/');
    return user.read.some((f) => covers(f, levels));
  }
}

function stripShare(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? '' : rest.slice(slash + 1);
}

/** MQTT topic matching: does `filter` match the concrete topic `levels`? */
function matches(filter: readonly string[], levels: readonly string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i]!;
    if (f === '#') return true;
    if (i >= levels.length) return false;
    if (f !== '+' && f !== levels[i]) return false;
  }
  return filter.length === levels.length;
}

/** Does the rule filter `rule` match every topic the subscription filter `sub` can match? */
function covers(rule: readonly string[], sub: readonly string[]): boolean {
  for (let i = 0; i < rule.length; i++) {
    const r = rule[i]!;
    if (r === '#') return true;
    if (i >= sub.length) return false;
    const s = sub[i]!;
    if (s === '#') return false;
    if (r === '+') continue;
    if (s !== r) return false; // a literal rule level covers only the same literal (not '+')
  }
  return rule.length === sub.length;
}
