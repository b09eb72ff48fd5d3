/**
 * Writes test/vectors/ticket-v1.json from the default inputs in build.ts:
 *
 *   node --import tsx test/vectors/generate.ts           rewrite the file
 *   node --import tsx test/vectors/generate.ts --check   exit 1 if the file differs from what would be written
 *
 * The vectors change only when the protocol's bytes do (a .proto change, the signing scheme, the
 * encoder); regenerating is then a deliberate act, reviewed in the diff.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildVectors, DEFAULT_INPUTS } from './build.ts';

export const VECTORS_PATH = fileURLToPath(new URL('./ticket-v1.json', import.meta.url));

export function vectorsText(): string {
  return `${JSON.stringify(buildVectors(DEFAULT_INPUTS), null, 2)}\n`;
}

const text = vectorsText();
if (process.argv.includes('--check')) {
  const current = readFileSync(VECTORS_PATH, 'utf8');
  if (current !== text) {
    console.error(`${VECTORS_PATH} is stale: run node --import tsx test/vectors/generate.ts`);
    process.exit(1);
  }
  console.log(`${VECTORS_PATH} is up to date`);
} else {
  writeFileSync(VECTORS_PATH, text);
  console.log(`wrote ${VECTORS_PATH}`);
}
