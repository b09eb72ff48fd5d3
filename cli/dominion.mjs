#!/usr/bin/env node
// The `dominion` command. Node 20 cannot run TypeScript by itself, so register tsx, then hand over;
// except `dashboard`, a long-lived process with a memory budget, which runs bundled (bundled.mjs).
if (process.argv[2] === 'dashboard') {
  // V8's young generation stays at its starting size: the start-up scan of a large fleet would grow
  // it to 32 MB, a third of the budget, for no gain afterwards (docs/DASHBOARD.md, "Memory").
  (await import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1');
  const { runBundled } = await import('./bundled.mjs');
  process.exitCode = await runBundled('./dashboard-main.ts', process.argv.slice(3));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
