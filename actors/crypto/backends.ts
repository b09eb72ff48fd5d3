// Backend selection by name. Each backend is built on first request and reused, so the noble hash
// hook is installed at most once and callers can compare backends by identity.

import type { CryptoBackend, CryptoBackendName } from './backend.ts';
import { createNobleBackend } from './noble.ts';
import { createNodeBackend } from './node.ts';

const built = new Map<CryptoBackendName, CryptoBackend>();

export function cryptoBackend(name: CryptoBackendName): CryptoBackend {
  let backend = built.get(name);
  if (backend === undefined) {
    switch (name) {
      case 'noble':
        backend = createNobleBackend();
        break;
      case 'node':
        backend = createNodeBackend();
        break;
      default: {
        const unknown: never = name;
        throw new TypeError(`unknown crypto backend: ${String(unknown)}`);
      }
    }
    built.set(name, backend);
  }
  return backend;
}
