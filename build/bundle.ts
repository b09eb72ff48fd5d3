/**
 * One domain's bundle with esbuild: a single minified, tree-shaken ESM file for Node (platform
 * `node`, the board's Node target), with its metafile for the size table and the isolation rules.
 *
 * Tree shaking leans on one project convention: importing a dominion module has no side effects
 * (modules define things; nothing runs at import). `"sideEffects": false` in package.json tells
 * esbuild so for every project source file, which lets it drop whole modules a domain does not use — e.g. the
 * node crypto backend behind actors/crypto's door in `sw`, or the embedded broker behind
 * actors/mqtt's door in `mm`. Packages keep their own `sideEffects` declarations.
 *
 * Output is deterministic: no timestamps, no absolute paths (esbuild reports paths relative to the
 * project root, and minified output carries no path comments).
 */
import { join } from 'node:path';
import type { Metafile } from 'esbuild';
import type { BoardProfile } from '../boards/index.ts';
import { aliasOption } from './aliases.ts';
import { BuildError } from './errors.ts';
import { shippedInputs } from './rules.ts';
import { SERVICE_API, SERVICE_API_MODULE } from './service-module.ts';

/**
 * For bundles that contain CommonJS (MQTT.js): esbuild turns its `require('events')` into a call
 * that needs a real `require` in an ES module. Created from a fixed base so the bundle runs from any
 * place (a file, or verified bytes in a data: URL); it only ever loads Node built-ins, as every
 * package is bundled.
 */
export const REQUIRE_BANNER =
  "import{createRequire as __dominionCreateRequire}from'node:module';const require=__dominionCreateRequire('/');";

export interface BundleOptions {
  readonly root: string;
  /** Absolute path of the entry module. */
  readonly entry: string;
  readonly board: BoardProfile;
  /** Replace MQTT.js's browser/WebSocket/SOCKS/debug dependencies (build/aliases.ts). Default true. */
  readonly aliases?: boolean;
}

export interface Bundle {
  readonly code: Uint8Array;
  readonly metafile: Metafile;
}

async function once(o: BundleOptions): Promise<Bundle> {
  // Loaded on first use, so importing build/ (e.g. for its rules) costs nothing until a bundle is made.
  const { build } = await import('esbuild');
  try {
    const result = await build({
      absWorkingDir: o.root,
      entryPoints: [o.entry],
      outfile: 'bundle.mjs', // nothing is written: the name only labels the metafile's output
      write: false,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: o.board.node.target,
      minify: true,
      treeShaking: true,
      legalComments: 'none',
      charset: 'utf8',
      sourcemap: false,
      metafile: true,
      logLevel: 'silent',
      // A user's service module names the service API as a package (build/service-module.ts).
      alias: { ...(o.aliases === false ? {} : aliasOption(o.root)), [SERVICE_API]: join(o.root, SERVICE_API_MODULE) },
    });
    const out = result.outputFiles[0];
    if (out === undefined) throw new Error('esbuild produced no output');
    return { code: out.contents, metafile: result.metafile };
  } catch (e) {
    const errors = (e as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }).errors;
    const detail = errors?.length
      ? errors.map((x) => (x.location ? `${x.location.file}:${x.location.line}: ${x.text}` : x.text)).join('; ')
      : (e as Error).message;
    throw new BuildError('bundle', `esbuild failed for ${o.entry.slice(o.root.length + 1)}: ${detail}`);
  }
}

/**
 * Bundles `entry`; prepends the `require` banner (as esbuild's `banner` option would) only when
 * CommonJS ended up inside, which the metafile tells after the fact.
 */
export async function bundleDomain(o: BundleOptions): Promise<Bundle> {
  const bundle = await once(o);
  const inputs = bundle.metafile.inputs;
  if (!shippedInputs(bundle.metafile).some((path) => inputs[path]?.format === 'cjs')) return bundle;
  const banner = new TextEncoder().encode(`${REQUIRE_BANNER}\n`);
  const code = new Uint8Array(banner.length + bundle.code.length);
  code.set(banner);
  code.set(bundle.code, banner.length);
  return { code, metafile: bundle.metafile };
}
