/**
 * proto/gen/ is committed. This test regenerates it into a temporary directory with the repository's
 * own buf.gen.yaml (offline: local protoc-gen-es from node_modules/.bin) and byte-compares every file,
 * so a .proto edit without `npm run proto` fails CI. It also runs `buf lint` and `buf format`.
 * Nothing in the working tree is written: output (-o) and buf's cache go to a temp directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'node_modules', '.bin');
const buf = join(bin, process.platform === 'win32' ? 'buf.cmd' : 'buf');
const committed = join(root, 'proto', 'gen');
const HINT = 'proto/gen/ is stale: run `npm run proto` and commit the result';

function runBuf(args: string[], cacheDir: string): { status: number | null; output: string } {
  const result = spawnSync(buf, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      // npm scripts put node_modules/.bin on PATH; do the same so `local: protoc-gen-es` resolves.
      PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
      BUF_CACHE_DIR: cacheDir,
    },
  });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function listFiles(dir: string): string[] {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((name) => {
      const path = join(d, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
  return walk(dir)
    .map((path) => relative(dir, path))
    .sort();
}

function withTemp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-proto-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('committed proto/gen matches a fresh `buf generate`', () => {
  withTemp((tmp) => {
    const out = join(tmp, 'out');
    const gen = runBuf(['generate', '-o', out], join(tmp, 'cache'));
    assert.equal(gen.status, 0, `buf generate failed:\n${gen.output}`);
    const fresh = join(out, 'proto', 'gen');
    const freshFiles = listFiles(fresh);
    const committedFiles = listFiles(committed);
    assert.ok(freshFiles.length > 0, 'buf generate produced no files');
    assert.deepStrictEqual(committedFiles, freshFiles, `${HINT} (file lists differ)`);
    for (const file of freshFiles) {
      const same = readFileSync(join(fresh, file)).equals(readFileSync(join(committed, file)));
      assert.ok(same, `${HINT} (proto/gen/${file} differs)`);
    }
  });
});

test('.proto files pass `buf lint` and `buf format`', () => {
  withTemp((tmp) => {
    const lint = runBuf(['lint'], join(tmp, 'cache'));
    assert.equal(lint.status, 0, `buf lint failed:\n${lint.output}`);
    const format = runBuf(['format', '--diff', '--exit-code'], join(tmp, 'cache'));
    assert.equal(format.status, 0, `buf format found differences (run \`npx buf format -w\`):\n${format.output}`);
  });
});
