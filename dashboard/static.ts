/**
 * The page's files (docs/DASHBOARD.md, "Static"): index.html, flat assets from dashboard/page/
 * whose names match ASSET_NAME (no paths, so no traversal), and uPlot from node_modules. Read from
 * disk at each request: small, and a page edit shows on reload. Each carries an ETag: the browser
 * keeps its copy and asks again with If-None-Match (`no-cache`), and a 304 saves the body.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError } from './http.ts';

export const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');
export const ASSET_NAME = /^[a-z0-9-]+\.(js|css|svg|png)$/;

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
};

export interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  /** A strong validator: the content's hash, quoted. */
  readonly etag: string;
}

/** For every static answer: keep it, but ask before using it again (an edit shows on reload). */
export const STATIC_CACHE_CONTROL = 'no-cache';

/** Whether an If-None-Match header names `etag` (a list, or `*`). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

function uplotDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('uplot/package.json'));
}

/** The file for a GET path, or undefined when the path is not a static one. Throws 404 for a missing file. */
export async function staticFile(pathname: string, pageDir = PAGE_DIR): Promise<StaticFile | undefined> {
  if (pathname === '/' || pathname === '/index.html') return load(join(pageDir, 'index.html'), TYPES.html!);
  if (pathname === '/assets/vendor/uplot.js') return load(join(uplotDir(), 'dist', 'uPlot.esm.js'), TYPES.js!);
  if (pathname === '/assets/vendor/uplot.css') return load(join(uplotDir(), 'dist', 'uPlot.min.css'), TYPES.css!);
  if (!pathname.startsWith('/assets/')) return undefined;
  const name = pathname.slice('/assets/'.length);
  if (!ASSET_NAME.test(name)) throw new HttpError(404, 'not-found', 'no such file');
  return load(join(pageDir, name), TYPES[name.slice(name.lastIndexOf('.') + 1)]!);
}

async function load(path: string, type: string): Promise<StaticFile> {
  try {
    const body = await readFile(path);
    return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
  } catch {
    throw new HttpError(404, 'not-found', 'no such file');
  }
}
