/**
 * The device runner as one plain .mjs file (`cli/device-main.ts` bundled): what a board runs, without
 * tsx or sources — `node device.mjs --board …`, and each domain process `node device.mjs domain-host`.
 * Run this way, confined domain processes read only this file, their own slots and their data.
 */
import { join } from 'node:path';
import { PROJECT_ROOT } from './build.ts';

export async function bundleRunner(outfile: string, target = 'node20', root = PROJECT_ROOT): Promise<void> {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(root, 'cli/device-main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target,
    outfile,
    minify: true,
    external: ['better-sqlite3', 'esbuild'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
}
