/**
 * Checks a board profile, typed or straight from JSON: every field present, of the right kind and in
 * range, no unknown fields (a typo is an error, not a silently ignored option), and the fields
 * consistent with each other. The first problem is thrown as a BoardError naming the field by its
 * dotted path from the board id, e.g. `rpi4.domains.mm.heapMb must be a positive integer (got 0)`.
 */
import { BoardError } from './errors.ts';
import { ARCHES, DOMAIN_KINDS, PLACEMENTS, type BoardProfile, type DomainKind } from './types.ts';

const ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const SERVICE = /^[a-z0-9-]{1,32}$/;
const NODE_TARGET = /^node(\d+)(\.\d+){0,2}$/;
/** Node majors dominion supports (package.json engines: >= 20). */
const NODE_MIN_MAJOR = 20;

const MAILBOX_KEYS: { readonly [K in DomainKind]: readonly string[] } = {
  sw: ['awdt', 'inlet'],
  hypervisor: ['proxy', 'vmHost', 'inlet'],
  mm: ['receiver', 'forwarder', 'inlet'],
  sm: ['service', 'inlet'],
};
const MAILBOX_MAX = 65_536;
const DAY_MS = 24 * 3600 * 1000;

type Obj = Record<string, unknown>;

function fail(path: string, problem: string): never {
  throw new BoardError('invalid-board', `${path} ${problem}`, path);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** An object with exactly these keys. */
function object(v: unknown, path: string, keys: readonly string[], optional: readonly string[] = []): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, `must be an object (got ${show(v)})`);
  const o = v as Obj;
  for (const k of Object.keys(o))
    if (!keys.includes(k) && !optional.includes(k))
      fail(`${path}.${k}`, `is not a known field (known: ${[...keys, ...optional].join(', ')})`);
  for (const k of keys) if (o[k] === undefined) fail(`${path}.${k}`, 'is missing');
  return o;
}

function positiveInt(v: unknown, path: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(path, `must be a positive integer (got ${show(v)})`);
  if (v > max) fail(path, `must be at most ${max} (got ${v})`);
  return v;
}

function string(v: unknown, path: string, pattern?: RegExp, what?: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(path, `must be a non-empty string (got ${show(v)})`);
  if (pattern !== undefined && !pattern.test(v)) fail(path, `must be ${what ?? `like ${pattern}`} (got ${show(v)})`);
  return v;
}

function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) fail(path, `must be one of ${allowed.join(', ')} (got ${show(v)})`);
  return v as T;
}

/**
 * Returns the profile, checked and deeply frozen; throws BoardError('invalid-board') naming the first
 * bad field. `label` names the board in messages when the profile's own id is missing or malformed.
 */
export function validateBoard(profile: unknown, label = 'board'): BoardProfile {
  const top = ['id', 'name', 'arch', 'cpu', 'cores', 'memoryMb', 'node', 'placement', 'timing', 'watchdog', 'services', 'domains'];
  if (profile === null || typeof profile !== 'object' || Array.isArray(profile)) fail(label, `must be an object (got ${show(profile)})`);
  const rawId = (profile as Obj).id;
  const b = typeof rawId === 'string' && ID.test(rawId) ? rawId : label;
  const p = object(profile, b, top);
  string(p.id, `${b}.id`, ID, '1-32 characters of [a-z0-9-], starting with a letter or digit');
  string(p.name, `${b}.name`);
  oneOf(p.arch, `${b}.arch`, ARCHES);
  string(p.cpu, `${b}.cpu`);
  const cores = positiveInt(p.cores, `${b}.cores`, 1024);
  const memoryMb = positiveInt(p.memoryMb, `${b}.memoryMb`, 16 * 1024 * 1024);

  const node = object(p.node, `${b}.node`, ['target', 'major']);
  const target = string(node.target, `${b}.node.target`, NODE_TARGET, 'an esbuild Node target like node20 or node20.11');
  const major = positiveInt(node.major, `${b}.node.major`, 1000);
  if (major < NODE_MIN_MAJOR) fail(`${b}.node.major`, `must be at least ${NODE_MIN_MAJOR} (got ${major})`);
  if (Number(NODE_TARGET.exec(target)![1]) !== major)
    fail(`${b}.node.target`, `must be for Node ${major} (node.major), got ${show(target)}`);

  oneOf(p.placement, `${b}.placement`, PLACEMENTS);

  const t = object(p.timing, `${b}.timing`, [
    'intervalMs',
    'deferralMs',
    'maxDeferralMs',
    'initialTimeoutMs',
    'vmInitialTimeoutMs',
    'replyTimeoutMs',
  ]);
  const interval = positiveInt(t.intervalMs, `${b}.timing.intervalMs`, DAY_MS);
  const deferral = positiveInt(t.deferralMs, `${b}.timing.deferralMs`, DAY_MS);
  const maxDeferral = positiveInt(t.maxDeferralMs, `${b}.timing.maxDeferralMs`, DAY_MS);
  positiveInt(t.initialTimeoutMs, `${b}.timing.initialTimeoutMs`, DAY_MS);
  positiveInt(t.vmInitialTimeoutMs, `${b}.timing.vmInitialTimeoutMs`, DAY_MS);
  const reply = positiveInt(t.replyTimeoutMs, `${b}.timing.replyTimeoutMs`, DAY_MS);
  // A ticket must outlast the round that asks for the next one, or every round races the deadline.
  if (deferral <= interval) fail(`${b}.timing.deferralMs`, `must be longer than timing.intervalMs (${interval}), got ${deferral}`);
  if (maxDeferral < deferral) fail(`${b}.timing.maxDeferralMs`, `must be at least timing.deferralMs (${deferral}), got ${maxDeferral}`);
  if (reply >= interval) fail(`${b}.timing.replyTimeoutMs`, `must be shorter than timing.intervalMs (${interval}), got ${reply}`);

  const w = p.watchdog as Obj | undefined;
  const backend = oneOf(w !== null && typeof w === 'object' ? w.backend : w, `${b}.watchdog.backend`, ['simulated', 'linux'] as const);
  if (backend === 'simulated') object(w, `${b}.watchdog`, ['backend']);
  else {
    const lw = object(w, `${b}.watchdog`, ['backend', 'device', 'petIntervalMs', 'hardwareTimeoutS']);
    string(lw.device, `${b}.watchdog.device`, /^\/dev\/[A-Za-z0-9._/-]+$/, 'a device path under /dev/');
    const pet = positiveInt(lw.petIntervalMs, `${b}.watchdog.petIntervalMs`, DAY_MS);
    const hw = positiveInt(lw.hardwareTimeoutS, `${b}.watchdog.hardwareTimeoutS`, 3600);
    // Two pets must fit in one hardware period, or one late timer turn reboots a healthy device.
    if (pet * 2 > hw * 1000)
      fail(`${b}.watchdog.petIntervalMs`, `must be at most half of watchdog.hardwareTimeoutS (${hw} s), got ${pet} ms`);
    // The hardware timeout is added to the guarantee's bound (t + D + hardwareTimeoutS + boot, §2.1):
    // longer than the maximum deferral, it would be the larger part of it.
    if (hw * 1000 > maxDeferral)
      fail(
        `${b}.watchdog.hardwareTimeoutS`,
        `must be no longer than the maximum deferral (timing.maxDeferralMs ${maxDeferral} ms), got ${hw} s`,
      );
  }

  if (!Array.isArray(p.services)) fail(`${b}.services`, `must be an array of service names (got ${show(p.services)})`);
  const services = p.services as unknown[];
  if (services.length === 0) fail(`${b}.services`, 'must name at least one service');
  services.forEach((s, i) => string(s, `${b}.services[${i}]`, SERVICE, '1-32 characters of [a-z0-9-]'));
  const dup = services.find((s, i) => services.indexOf(s) !== i);
  if (dup !== undefined) fail(`${b}.services`, `names ${show(dup)} twice`);

  const d = object(p.domains, `${b}.domains`, [...DOMAIN_KINDS]);
  let memoryUse = 0;
  for (const kind of DOMAIN_KINDS) {
    const path = `${b}.domains.${kind}`;
    const dom = object(d[kind], path, ['vcpus', 'memoryMb', 'heapMb', 'mailbox', 'bundle']);
    positiveInt(dom.vcpus, `${path}.vcpus`, cores);
    const mem = positiveInt(dom.memoryMb, `${path}.memoryMb`, memoryMb);
    positiveInt(dom.heapMb, `${path}.heapMb`, mem);
    const mailbox = object(dom.mailbox, `${path}.mailbox`, MAILBOX_KEYS[kind]);
    for (const k of MAILBOX_KEYS[kind]) positiveInt(mailbox[k], `${path}.mailbox.${k}`, MAILBOX_MAX);
    const bundle = object(dom.bundle, `${path}.bundle`, ['rawKb', 'gzipKb']);
    const raw = positiveInt(bundle.rawKb, `${path}.bundle.rawKb`, 64 * 1024);
    positiveInt(bundle.gzipKb, `${path}.bundle.gzipKb`, raw);
    memoryUse += kind === 'sm' ? mem * services.length : mem;
  }
  if (memoryUse > memoryMb) {
    fail(`${b}.domains`, `need ${memoryUse} MiB together (sm counted once per service), more than the board's memoryMb (${memoryMb})`);
  }
  // In one process a service could patch the clock or timers sw's watchdog runs on, and keep a real
  // board alive forever: the simulated watchdog only.
  if (backend === 'linux' && p.placement === 'single') {
    fail(`${b}.placement`, 'must not be "single" with a linux watchdog: sw never shares a process with untrusted code (use "split")');
  }
  return deepFreeze(structuredClone(profile) as BoardProfile);
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) deepFreeze((v as Obj)[k]);
    Object.freeze(v);
  }
  return v;
}
