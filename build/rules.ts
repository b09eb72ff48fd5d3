/**
 * What each domain's bundle must not contain (docs/ARCHITECTURE.md §1, §3, §7), checked on esbuild's
 * metafile: the source files that went into the bundle (paths relative to the project root) and
 * the modules it still imports at run time (Node built-ins). A build that breaks a rule fails, so
 * an import that drags MQTT into a service or a signer into `mm` is caught when it is written.
 */
import type { Metafile } from 'esbuild';
import type { DomainKind } from '../boards/index.ts';

export interface IsolationRule {
  readonly domains: readonly DomainKind[];
  /** Matched against every input path (`input`) or every run-time import (`import`). */
  readonly on: 'input' | 'import';
  readonly pattern: RegExp;
  readonly why: string;
}

const ALL: readonly DomainKind[] = ['sw', 'hypervisor', 'mm', 'sm'];
const MQTT = /(^|\/)node_modules\/(mqtt|mqtt-packet)\/|^actors\/(mqtt|mm)\//;
const SIGNING = /(^|\/)node_modules\/@noble\/|^actors\/crypto\/(noble|node)\.ts$|^actors\/tickets\//;
const PROTOBUF = /(^|\/)node_modules\/@bufbuild\/protobuf\//;

export const ISOLATION_RULES: readonly IsolationRule[] = [
  { domains: ['sm'], on: 'input', pattern: MQTT, why: 'a service reaches the network only through mm: no MQTT client' },
  { domains: ['sm'], on: 'input', pattern: SIGNING, why: 'a service holds no key and signs nothing' },
  {
    domains: ['sm'],
    on: 'import',
    pattern: /^(node:)?(net|tls|dgram|http|https|http2|child_process|cluster|worker_threads|crypto)$/,
    why: 'a service gets no network, processes or crypto of its own',
  },
  { domains: ['mm'], on: 'input', pattern: SIGNING, why: 'mm holds no secret and signs nothing: no private-key code' },
  { domains: ['mm'], on: 'import', pattern: /^(node:)?crypto$/, why: 'mm holds no secret: no crypto module' },
  {
    domains: ['mm', 'sm'],
    on: 'input',
    pattern: PROTOBUF,
    why: 'mm and services relay frames as opaque bytes (proto/lite.ts), without the protobuf runtime',
  },
  { domains: ['sw', 'hypervisor'], on: 'input', pattern: MQTT, why: 'only mm has a network' },
  { domains: ['sw'], on: 'input', pattern: /^actors\/crypto\/node\.ts$/, why: 'sw uses the pure-JS noble backend only' },
  {
    domains: ['hypervisor'],
    on: 'input',
    pattern: /(^|\/)node_modules\/@noble\/|^actors\/crypto\/noble\.ts$/,
    why: 'the hypervisor uses the node backend only',
  },
  {
    domains: ALL,
    on: 'input',
    pattern: /(^|\/)node_modules\/(aedes|better-sqlite3)\/|^actors\/hub\/|^cli\//,
    why: 'hub, broker and CLI code never ships to a device',
  },
  {
    domains: ALL,
    on: 'input',
    pattern: /(^|\/)node_modules\/(ws|socks|debug|worker-timers|readable-stream)\//,
    why: 'aliased away: a board speaks MQTT over TCP on Node (build/aliases.ts)',
  },
];

export interface Violation {
  readonly rule: IsolationRule;
  /** The offending input path or import. */
  readonly match: string;
}

/**
 * The source files that put code into the bundle. (`metafile.inputs` lists every file esbuild
 * parsed, including those tree shaking then dropped whole; the output's inputs with a byte count
 * are what actually ships.)
 */
export function shippedInputs(metafile: Metafile): string[] {
  return Object.values(metafile.outputs).flatMap((o) =>
    Object.entries(o.inputs)
      .filter(([, i]) => i.bytesInOutput > 0)
      .map(([path]) => path),
  );
}

/** Every rule `domain`'s bundle breaks, given its metafile (one output). */
export function isolationViolations(
  domain: DomainKind,
  metafile: Metafile,
  rules: readonly IsolationRule[] = ISOLATION_RULES,
): Violation[] {
  const outputs = Object.values(metafile.outputs);
  const inputs = shippedInputs(metafile);
  const imports = outputs.flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
  const found: Violation[] = [];
  for (const rule of rules) {
    if (!rule.domains.includes(domain)) continue;
    const subjects = rule.on === 'input' ? inputs : imports;
    for (const s of subjects) if (rule.pattern.test(s)) found.push({ rule, match: s });
  }
  return found;
}
