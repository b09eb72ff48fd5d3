/**
 * The build rule's lint on each bundle's code (build/rules.ts, the `code` rules): hostile services
 * bundled by the project's own bundler are refused with the rule's reason, the real images pass,
 * and one escape the lint cannot see shows why the OS is the boundary (docs/ARCHITECTURE.md §1).
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadBoard } from '../../boards/index.ts';
import {
  bundleDomain,
  bundleViolations,
  codeViolations,
  planBundles,
  PROJECT_ROOT,
  REQUIRE_BANNER,
  type Bundle,
  type Violation,
} from '../../build/index.ts';
import { tempDir } from './support.ts';

const dir = tempDir('code-rules');
after(() => rmSync(dir, { recursive: true, force: true }));
const sim = loadBoard('sim');

/** A service image `sm-<name>.ts` that exports `escape` (so tree shaking keeps it), bundled as the build does. */
async function hostile(name: string, body: string, head = ''): Promise<Bundle> {
  const entry = join(dir, `sm-${name}.ts`);
  writeFileSync(
    entry,
    `${head}\nexport const DOMAIN = 'sm';\nexport const SERVICE = '${name}';\nexport function escape(arg: string): unknown {\n  ${body}\n}\n`,
  );
  return bundleDomain({ root: PROJECT_ROOT, entry, board: sim });
}

const whys = (vs: readonly Violation[]): string[] => vs.map((v) => v.rule.why);

/** Each way past the metafile rules the issue names (and a few more), and the reason it must be refused with. */
const ESCAPES: ReadonlyArray<{ name: string; body: string; head?: string; why: RegExp }> = [
  { name: 'joined-import', body: "return import(['node', 'net'].join(':'));", why: /^a dynamic import\( of a computed name/ },
  { name: 'template-import', body: 'return import(`node:${arg}`);', why: /^a dynamic import\( of a computed name/ },
  {
    name: 'data-import',
    body: "return import('data:text/javascript,' + encodeURIComponent(arg));",
    why: /^a dynamic import\( of a computed name/,
  },
  { name: 'url-import', body: "return import('https://example.com/net.mjs');", why: /^an image imports only Node built-ins at run time/ },
  { name: 'get-builtin', body: "return process.getBuiltinModule('net');", why: /^process\.getBuiltinModule loads a Node built-in/ },
  {
    name: 'get-builtin-bracket',
    body: "return (process as unknown as Record<string, (n: string) => unknown>)['getBuiltin' + 'Module']!('net');",
    why: /^process\.getBuiltinModule loads a Node built-in/,
  },
  {
    name: 'create-require',
    head: "import { createRequire } from 'node:module';",
    body: "return createRequire('/')('net');",
    why: /^createRequire makes a require/,
  },
  { name: 'computed-require', body: 'return require(arg);', why: /^require of a computed name/ },
  { name: 'eval', body: 'return eval(arg);', why: /^eval runs code/ },
  { name: 'indirect-eval', body: 'return (0, eval)(arg);', why: /^eval runs code/ },
  { name: 'new-function', body: 'return new Function(arg)();', why: /^the Function constructor/ },
  { name: 'function-call', body: 'return Function(arg)();', why: /^the Function constructor/ },
  { name: 'constructor', body: 'return (() => {}).constructor(arg);', why: /^the Function constructor/ },
  { name: 'binding', body: "return process.binding('tcp_wrap');", why: /^process\.binding, process\.dlopen/ },
  { name: 'dlopen', body: 'return process.dlopen({ exports: {} }, arg);', why: /^process\.binding, process\.dlopen/ },
  { name: 'module-load', body: "return module.constructor._load('net');", why: /^process\.binding, process\.dlopen/ },
  { name: 'main-module', body: "return process.mainModule?.require('net');", why: /^process\.binding, process\.dlopen/ },
  { name: 'kill', body: "return process.kill(Number(arg), 'SIGKILL');", why: /^process\.kill signals any process of the same user/ },
  {
    name: 'vm',
    head: "import { runInThisContext } from 'node:vm';",
    body: 'return runInThisContext(arg);',
    why: /^a service loads and evaluates only/,
  },
];

for (const e of ESCAPES) {
  test(`a hostile service is refused: ${e.name}`, async () => {
    const found = bundleViolations('sm', await hostile(e.name, e.body, e.head));
    assert.ok(
      found.some((v) => e.why.test(v.rule.why)),
      `${e.name}: no violation matching ${e.why}; found:\n${whys(found).join('\n')}`,
    );
  });
}

test('the code rules say they are a lint, and point to the OS as the boundary', async () => {
  const found = codeViolations('sm', (await hostile('lint-why', 'return eval(arg);')).code);
  assert.equal(found.length, 1);
  assert.match(found[0]!.rule.why, /a lint on the minified output: an obfuscated spelling .* passes it; the OS is the boundary/);
  assert.match(found[0]!.match, /eval\(/, 'the match shows the offending code');
});

test("the minifier's spellings: bracket and dot access are refused alike", () => {
  for (const code of [
    'process.getBuiltinModule("net")',
    'process["getBuiltinModule"]("net")',
    'process.binding("fs")',
    "process['binding']('fs')",
    'module.constructor._load("net")',
    'module["constructor"]["_load"]("net")',
    '(()=>{})["constructor"]("return process")()',
    'globalThis["eval"]("1")',
    'globalThis.Function("return 1")',
  ])
    assert.notDeepEqual(codeViolations('sm', code), [], code);
});

test('names the metafile already lists, and ordinary constructors, are not the lint’s business', () => {
  for (const code of [
    'import("node:fs")', // a literal: the metafile's import rules judge it
    'import("./chunk.js",{with:{type:"json"}})',
    'typeof x=="function"&&x()',
    'new r.constructor(r.buffer.slice(),r.byteOffset,r.length)',
    'class A extends Error{constructor(t){super(t)}}',
    'e.constructor?.name',
    'obj.bindings.size',
  ])
    assert.deepEqual(codeViolations('sm', code), [], code);
});

test("mm may carry MQTT.js's require (REQUIRE_BANNER, esbuild's shim); a service may not", () => {
  const shim =
    'var M=(r=>typeof require<"u"?require:r)(function(r){if(typeof require<"u")return require.apply(this,arguments)});M("events");';
  const code = `${REQUIRE_BANNER}\n${shim}`;
  assert.deepEqual(codeViolations('mm', code), []);
  const sm = whys(codeViolations('sm', code));
  assert.ok(sm.some((w) => w.startsWith('createRequire')) && sm.some((w) => w.startsWith('require of a computed name')), sm.join('\n'));
  assert.ok(whys(codeViolations('sw', code)).some((w) => w.startsWith('createRequire')));
});

test('the real images of every domain pass, the sensor service among them', async () => {
  for (const board of [loadBoard('rpi4'), sim]) {
    const plan = planBundles(board);
    assert.ok(plan.some((p) => p.label === 'sm:sensor'));
    for (const p of plan) {
      const bundle = await bundleDomain({ root: PROJECT_ROOT, entry: p.entry, board });
      assert.deepEqual(
        bundleViolations(p.domain, bundle).map((v) => v.match),
        [],
        `${board.id} ${p.label}`,
      );
    }
  }
});

test('what the lint cannot see: an obfuscated getBuiltinModule passes the build and reaches node:net, so the OS must stop it', async () => {
  // process.getBuiltinModule('net'), spelled in base64: no pattern on the code can tell.
  const body =
    "const g = globalThis as unknown as Record<string, Record<string, (n: string) => unknown>>;\n  return g[atob('cHJvY2Vzcw==')]![atob('Z2V0QnVpbHRpbk1vZHVsZQ==')]!(atob('bmV0'));";
  const bundle = await hostile('obfuscated', body);
  assert.deepEqual(bundleViolations('sm', bundle), [], 'the lint passes it');
  const image = (await import(`data:text/javascript;base64,${Buffer.from(bundle.code).toString('base64')}`)) as {
    escape(arg: string): { connect?: unknown };
  };
  assert.equal(
    typeof image.escape('').connect,
    'function',
    'and it holds node:net: only the permission model and network namespace stand in its way',
  );
});
