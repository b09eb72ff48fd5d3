// Backend selection by name. Each backend is built on first request and reused, so the noble hash
// hook is installed at most once and callers can compare backends by identity. Code that wants one
// backend only imports `nobleBackend` or `nodeBackend`, so a bundle carries just that one.

import type { CryptoBackend, CryptoBackendName } from './backend.ts';
import { nobleBackend } from './noble.ts';
import { nodeBackend } from './node.ts';

export function cryptoBackend(name: CryptoBackendName): CryptoBackend {
  switch (name) {
    case 'noble':
      return nobleBackend();
    case 'node':
      return nodeBackend();
    default: {
      const unknown: never = name;
      throw new TypeError(`unknown crypto backend: ${String(unknown)}`);
    }
  }
}
