/** `dominion --version`: this package's version (from package.json) and the Node.js running it. */
import { readFileSync } from 'node:fs';
import { parseCommand, positionals } from './options.ts';

export function versionText(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return `dominion ${typeof pkg.version === 'string' ? pkg.version : 'unknown'} (Node.js ${process.version})`;
}

export function versionCommand(argv: string[]): number {
  const { values, positionals: rest } = parseCommand('version', argv, { help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    console.log('usage: dominion version (or dominion --version, -V)\n\nPrints the dominion version and the Node.js version running it.');
    return 0;
  }
  positionals('version', rest, []);
  console.log(versionText());
  return 0;
}
