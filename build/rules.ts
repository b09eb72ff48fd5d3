/**
 * What each domain's bundle must not contain (docs/ARCHITECTURE.md §1, §3, §7), checked on esbuild's
 * metafile: the source files that went into the bundle (paths relative to the project root) and
 * the modules it still imports at run time (Node built-ins). A build that breaks a rule fails, so
 * an import that drags MQTT into a service or a signer into `mm` is caught when it is written.
 *
 * The metafile lists only what esbuild could resolve: a module reached by a computed name never
 * shows there. The `code` rules therefore read the minified output for the ways around it. They are
 * a lint, not a boundary: code can always spell an escape so no pattern sees it (docs/ARCHITECTURE.md
 * §1, "The build rule is a lint; the OS is the boundary").
 */
import type { Metafile } from 'esbuild';
import type { DomainKind } from '../boards/index.ts';

export interface IsolationRule {
  readonly domains: readonly DomainKind[];
  /**
   * Matched against every input path (`input`), every run-time import (`import`), or the bundle's
   * minified output code (`code`, see `codeViolations`).
   */
  readonly on: 'input' | 'import' | 'code';
  readonly pattern: RegExp;
  readonly why: string;
}

const ALL: readonly DomainKind[] = ['sw', 'hypervisor', 'mm', 'sm'];
const MQTT = /(^|\/)node_modules\/(mqtt|mqtt-packet)\/|^actors\/(mqtt|mm)\//;
const SIGNING = /(^|\/)node_modules\/@noble\/|^actors\/crypto\/(noble|node)\.ts$|^actors\/tickets\//;
const PROTOBUF = /(^|\/)node_modules\/@bufbuild\/protobuf\//;

/** Appended to every `code` rule's reason: what the rule is, and what it is not. */
const lint = (why: string): string =>
  `${why} (a lint on the minified output: an obfuscated spelling such as globalThis[atob(…)] passes it; the OS is the boundary, docs/ARCHITECTURE.md §1, §6)`;
/** Not the tail of a longer name or a property: `x.import(` is not `import(`. */
const START = String.raw`(?<![\w$.])`;
/** A string literal without escapes or substitutions: a name esbuild resolved, so the metafile lists it. */
const LITERAL = String.raw`(?:"[^"\\]*"|'[^'\\]*'|\x60[^\x60\\$]*\x60)`;
/** A property, either spelling (the minifier folds constant strings and turns `o["p"]` into `o.p`; a run-time name it cannot). */
const prop = (names: string): string => String.raw`(?:\.\s*|\[\s*["'\x60])(?:${names})\b`;

/**
 * The ways past the metafile's `import` rules, read off the bundle's code. `mm` is exempt from the
 * two `require` rules: MQTT.js is CommonJS, so its bundle carries `REQUIRE_BANNER` (build/bundle.ts)
 * and esbuild's `__require` shim, which calls `require.apply(this, arguments)`.
 */
const CODE_RULES: readonly IsolationRule[] = [
  {
    domains: ALL,
    on: 'code',
    pattern: /getBuiltinModule/,
    why: lint('process.getBuiltinModule loads a Node built-in by a name the metafile never lists'),
  },
  {
    domains: ['sw', 'hypervisor', 'sm'],
    on: 'code',
    pattern: /createRequire/,
    why: lint('createRequire makes a require that loads any module by name, past the import rules (only mm carries one, for MQTT.js)'),
  },
  {
    domains: ['sw', 'hypervisor', 'sm'],
    on: 'code',
    pattern: new RegExp(String.raw`${START}require\s*(?:\((?!\s*${LITERAL}\s*\))|[.[])`),
    why: lint("require of a computed name (in the output: esbuild's shim, require.apply) loads a module the metafile never lists"),
  },
  {
    domains: ALL,
    on: 'code',
    pattern: new RegExp(String.raw`${START}import\s*\((?!\s*${LITERAL}\s*[,)])`),
    why: lint(
      'a dynamic import( of a computed name (a joined string, a template, a data: URL built at run time) loads a module the metafile never lists',
    ),
  },
  {
    domains: ALL,
    on: 'code',
    pattern: /\beval\b/,
    why: lint('eval runs code that is not in the signed bundle, where no rule can read it'),
  },
  {
    domains: ALL,
    on: 'code',
    // `Function` as a name at all; `x.constructor(` called without `new` (a function's constructor is Function).
    pattern: new RegExp(String.raw`(?<![\w$])Function(?![\w$])|(?<!new\s+[\w$.]*)${prop('constructor')}["'\x60]?\s*\]?\s*\(`),
    why: lint('the Function constructor (new Function, Function(), fn.constructor(…)) runs code that is not in the signed bundle'),
  },
  {
    domains: ALL,
    on: 'code',
    pattern: new RegExp(String.raw`_linkedBinding|dlopen|mainModule|_resolveFilename|${prop('binding|_load|_compile')}`),
    why: lint(
      'process.binding, process.dlopen, process.mainModule and the loader behind module.constructor._load reach Node internals, native code or any module, past the import rules',
    ),
  },
  {
    domains: ['sm'],
    on: 'code',
    pattern: new RegExp(String.raw`${START}process\s*${prop('kill')}`),
    why: lint('process.kill signals any process of the same user, and the domain processes share one'),
  },
];

export const ISOLATION_RULES: readonly IsolationRule[] = [
  { domains: ['sm'], on: 'input', pattern: MQTT, why: 'a service reaches the network only through mm: no MQTT client' },
  { domains: ['sm'], on: 'input', pattern: SIGNING, why: 'a service holds no key and signs nothing' },
  {
    domains: ['sm'],
    on: 'import',
    pattern: /^(node:)?(net|tls|dgram|http|https|http2|child_process|cluster|worker_threads|crypto)$/,
    why: 'a service gets no network, processes or crypto of its own',
  },
  {
    domains: ['sm'],
    on: 'import',
    pattern: /^(node:)?(module|vm|inspector|wasi|repl)$/,
    why: 'a service loads and evaluates only its own bundle: no module loader, vm, inspector, WASI or REPL',
  },
  {
    domains: ALL,
    on: 'import',
    pattern: /^(?!node:)[a-z][a-z0-9+.-]*:|^[./]/i,
    why: 'an image imports only Node built-ins at run time: code from a URL (data:, file:, https:) or a path is not in the signed bundle',
  },
  { domains: ['mm'], on: 'input', pattern: SIGNING, why: 'mm holds no secret and signs nothing: no private-key code' },
  { domains: ['mm'], on: 'import', pattern: /^(node:)?crypto$/, why: 'mm holds no secret: no crypto module' },
  {
    domains: ['mm', 'sm'],
    on: 'input',
    pattern: PROTOBUF,
    why: 'mm and services relay frames as opaque bytes (proto/lite.ts), without the protobuf runtime',
  },
  {
    domains: ['sw'],
    on: 'input',
    pattern: PROTOBUF,
    why: 'sw encodes and decodes its messages with the table-driven codecs of proto/lite-messages.ts (wire-identical to the generated code, test/proto/lite-messages.test.ts): the protobuf runtime would be most of its bundle',
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
  ...CODE_RULES,
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

/** Every `input` and `import` rule `domain`'s bundle breaks, given its metafile (one output). */
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
    if (rule.on === 'code' || !rule.domains.includes(domain)) continue;
    const subjects = rule.on === 'input' ? inputs : imports;
    for (const s of subjects) if (rule.pattern.test(s)) found.push({ rule, match: s });
  }
  return found;
}

const CONTEXT = 24;

/**
 * Every `code` rule `domain`'s bundle breaks, given its output: one violation per rule, the first
 * match with some code either side. A pure function of the code, so it can be fed strings.
 */
export function codeViolations(
  domain: DomainKind,
  code: string | Uint8Array,
  rules: readonly IsolationRule[] = ISOLATION_RULES,
): Violation[] {
  const text = typeof code === 'string' ? code : new TextDecoder().decode(code);
  const found: Violation[] = [];
  for (const rule of rules) {
    if (rule.on !== 'code' || !rule.domains.includes(domain)) continue;
    const m = new RegExp(rule.pattern.source, rule.pattern.flags.replace('g', '')).exec(text); // no lastIndex carried over
    if (m === null) continue;
    const from = Math.max(0, m.index - CONTEXT);
    const to = Math.min(text.length, m.index + m[0].length + CONTEXT);
    found.push({ rule, match: `${from > 0 ? '…' : ''}${text.slice(from, to)}${to < text.length ? '…' : ''}` });
  }
  return found;
}

/** Every rule a built bundle breaks: its metafile's, then its code's. */
export function bundleViolations(
  domain: DomainKind,
  bundle: { readonly code: string | Uint8Array; readonly metafile: Metafile },
  rules: readonly IsolationRule[] = ISOLATION_RULES,
): Violation[] {
  return [...isolationViolations(domain, bundle.metafile, rules), ...codeViolations(domain, bundle.code, rules)];
}
