/**
 * The rule table (rules.ts) and the credentials as Mosquitto 2.0 reads them (docs/ARCHITECTURE.md
 * §7.1): `password_file` (`<username>:<$7$ hash>` per line) and `acl_file` — the device rules once,
 * as `pattern` lines with `%u` (constant however many devices there are), then one `user hub@<id>`
 * section per hub with its role's rules spelt out. Only the password file grows with the fleet.
 */
import { serviceInstance } from '../../proto/index.ts';
import { isPasswordHash } from './password-hash.ts';
import { hubUsername, usernameOf, type Principal } from './principal.ts';
import { ACL_RULES, type AclRule } from './rules.ts';

/** One broker account: who, and the hash of its password. */
export interface BrokerUser {
  readonly principal: Principal;
  readonly passwordHash: string;
}

export class BrokerFilesError extends Error {
  override readonly name = 'BrokerFilesError';
}

/** The rules that apply to `p`, with `{hub}` and `{service}` filled in (`%u` left for the broker). */
export function rulesFor(p: Principal): AclRule[] {
  return ACL_RULES.filter((r) => appliesTo(r, p)).map((r) => ({ ...r, topic: fill(r.topic, p) }));
}

function appliesTo(rule: AclRule, p: Principal): boolean {
  switch (rule.who) {
    case 'anyone':
      return true;
    case 'device':
      return p.kind === 'device';
    case 'hub':
      return p.kind === 'hub';
    case 'ih':
      return p.kind === 'hub' && p.role.kind === 'ih';
    case 'sh':
      return p.kind === 'hub' && p.role.kind === 'sh';
  }
}

function fill(topic: string, p: Principal): string {
  if (p.kind !== 'hub') return topic;
  let t = topic.replaceAll('{hub}', p.hubId);
  if (p.role.kind === 'sh') t = t.replaceAll('{service}', serviceInstance(p.role.service).slice(3));
  return t;
}

/** `password_file` text; throws BrokerFilesError for a duplicate user or a malformed hash. */
export function renderPasswordFile(users: readonly BrokerUser[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const u of [...users].sort((a, b) => compare(usernameOf(a.principal), usernameOf(b.principal)))) {
    const name = usernameOf(u.principal);
    if (seen.has(name)) throw new BrokerFilesError(`broker user ${name} twice`);
    seen.add(name);
    if (!isPasswordHash(u.passwordHash)) throw new BrokerFilesError(`broker user ${name}: stored password hash is not a $7$ hash`);
    lines.push(`${name}:${u.passwordHash}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** `acl_file` text: the device and "anyone" rules as patterns, then one section per hub. */
export function renderAclFile(hubs: readonly Extract<Principal, { kind: 'hub' }>[]): string {
  const out = ['# dominion broker ACL, written by "dominion broker-sync" (docs/ARCHITECTURE.md §7.1). Do not edit.', ''];
  for (const r of ACL_RULES) {
    if (r.who !== 'device' && r.who !== 'anyone') continue;
    out.push(`# ${r.who}: ${r.reason}`, `pattern ${r.access} ${r.topic}`);
  }
  const sorted = [...hubs].sort((a, b) => compare(a.hubId, b.hubId));
  for (const hub of sorted) {
    out.push('', `user ${hubUsername(hub.hubId)}`);
    for (const r of rulesFor(hub)) {
      if (r.who === 'anyone') continue; // already a pattern
      // `%u` inside a `user` section is not substituted by Mosquitto: spell the username out.
      out.push(`# ${r.reason}`, `topic ${r.access} ${r.topic.replaceAll('%u', hubUsername(hub.hubId))}`);
    }
  }
  return `${out.join('\n')}\n`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
