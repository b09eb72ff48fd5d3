#!/usr/bin/env node
// The `dominion` command. Node 20 cannot run TypeScript by itself, so register tsx, then hand over.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
