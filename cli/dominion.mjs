#!/usr/bin/env node
// The `dominion` command. Node 20 cannot run TypeScript by itself, so register tsx, then hand over;
// except `dashboard`, a long-lived process with a memory budget, which runs bundled (bundled.mjs).
if (process.argv[2] === 'dashboard') {
  // Memory over speed (docs/DASHBOARD.md, "Memory"): V8's young generation stays at its starting size
  // (the start-up scan of a large fleet would grow it to 32 MB, a third of the budget), and its heap
  // heuristics favour size (else old-space garbage reaches ~100 MB between collections under churn).
  // Both are heuristics V8 reads when it uses them, so setting them now takes effect; flags that
  // change the collector's structure do not belong here (--single-threaded-gc, tried, crashes V8).
  (await import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1 --optimize-for-size');
  const { runBundled } = await import('./bundled.mjs');
  process.exitCode = await runBundled('./dashboard-main.ts', process.argv.slice(3));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
