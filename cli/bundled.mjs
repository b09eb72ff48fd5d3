// Runs a long-lived command from one esbuild bundle instead of through tsx's loader, which keeps a
// second V8 isolate (its hooks thread) and every transpiled module alive: ~57 MB of RSS at rest on
// Node 20, more than half of the dashboard's 100 MB budget (docs/DASHBOARD.md, "Memory").
//
// The bundle goes to a temporary file that is removed once loaded. Packages stay outside it, imported
// by absolute path (so they resolve from the temporary directory too); each source file's
// `import.meta.url` is replaced by that file's own URL, so code that finds files next to itself
// (dashboard/static.ts finds its page) behaves as it does under tsx.
import { build, stop } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

/** Bundles `entry` (a path from the project root's cli/), imports it and calls its `run(argv)`. */
export async function runBundled(entry, argv) {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bundle-'));
  const outfile = join(dir, 'main.mjs');
  try {
    await build({
      entryPoints: [new URL(entry, import.meta.url).pathname],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      logLevel: 'error',
      plugins: [packagesByPath, ownImportMetaUrl],
    });
    await stop(); // esbuild's service process is not needed any more
    const { run } = await import(pathToFileURL(outfile).href);
    rmSync(dir, { recursive: true, force: true });
    return await run(argv);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bare imports (packages) stay external, by the absolute path Node resolves them to from here. */
const packagesByPath = {
  name: 'packages-by-path',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      return { path: pathToFileURL(require.resolve(args.path)).href, external: true };
    });
  },
};

/** Each TypeScript file's `import.meta.url` is its own location, as it is when run unbundled. */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => ({
      contents: readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
      loader: 'ts',
    }));
  },
};
