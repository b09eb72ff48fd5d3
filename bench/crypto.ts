// Ed25519 throughput for both crypto backends, measured in the same process so the ratios quoted in
// docs/ARCHITECTURE.md §3 can be re-checked on any machine. Uses prepared Signer/Verifier objects, as the
// hubs and the hypervisor do, so key import is excluded from the per-op cost.

import { median } from './stats.ts';
import { cryptoBackend, type CryptoBackendName, type Signer, type Verifier } from '../actors/crypto/index.ts';

export type CryptoBenchOp = 'sign' | 'verify' | 'verify pinned' | 'verify+sign';

export interface CryptoBenchRow {
  backend: CryptoBackendName;
  op: CryptoBenchOp;
  /** Median over `runs` time-boxed runs. */
  opsPerSec: number;
  runs: number;
}

const BACKENDS: readonly CryptoBackendName[] = ['noble', 'node'];
const OPS: readonly CryptoBenchOp[] = ['sign', 'verify', 'verify pinned', 'verify+sign'];
const MESSAGE_BYTES = 128; // about the size of a ticket request/reply envelope

interface Fixture {
  signer: Signer;
  verifier: Verifier;
  /** The same key pinned (`Verifier.pin`): a device's hub key (docs/ARCHITECTURE.md §3). */
  pinned: Verifier;
  message: Uint8Array;
  signature: Uint8Array;
}

function fixture(backend: CryptoBackendName): Fixture {
  const crypto = cryptoBackend(backend);
  // Fixed seed and message: Ed25519 cost does not depend on their values, and fixed inputs make
  // runs comparable across backends.
  const signer = crypto.signer(new Uint8Array(32).fill(0x5a));
  const message = Uint8Array.from({ length: MESSAGE_BYTES }, (_, i) => i);
  const pinned = crypto.verifier(signer.publicKey);
  pinned.pin();
  return { signer, verifier: crypto.verifier(signer.publicKey), pinned, message, signature: signer.sign(message) };
}

// One operation; returns something derived from the result so the loop's work cannot be elided.
function opOf(f: Fixture, op: CryptoBenchOp): () => number {
  switch (op) {
    case 'sign':
      return () => f.signer.sign(f.message)[0];
    case 'verify':
      return () => (f.verifier.verify(f.message, f.signature) ? 1 : 0);
    case 'verify pinned':
      return () => (f.pinned.verify(f.message, f.signature) ? 1 : 0);
    case 'verify+sign':
      // A hub's loop: check the device's request, then sign the reply.
      return () => {
        if (!f.verifier.verify(f.message, f.signature)) throw new Error('bench: fixture signature failed to verify');
        return f.signer.sign(f.message)[0];
      };
  }
}

/** Runs `fn` repeatedly for `seconds`; returns operations per second. */
function timeBoxed(fn: () => number, seconds: number): number {
  const budgetMs = seconds * 1000;
  let sink = 0;
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    sink ^= fn();
    count++;
    elapsed = performance.now() - start;
  } while (elapsed < budgetMs);
  if (sink === -1) console.log(sink); // never true; keeps `sink` observable
  return count / (elapsed / 1000);
}

// Let timers and I/O run between runs so a long bench does not starve the event loop.
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function benchCrypto(opts: { seconds?: number; runs?: number } = {}): Promise<CryptoBenchRow[]> {
  const seconds = opts.seconds ?? 0.3;
  const runs = opts.runs ?? 5;
  if (!(seconds > 0) || !Number.isInteger(runs) || runs < 1) {
    throw new RangeError(`benchCrypto: need seconds > 0 and integer runs >= 1 (got ${seconds}, ${runs})`);
  }

  const cases = BACKENDS.flatMap((backend) => {
    const f = fixture(backend);
    return OPS.map((op) => ({ backend, op, fn: opOf(f, op), samples: [] as number[] }));
  });

  // Warm-up lets the JIT compile every path (noble's bigint code especially) before we measure.
  for (const c of cases) timeBoxed(c.fn, Math.min(seconds, 0.2));

  // Interleave backends and ops within each run so drift (thermal, other load) hits all alike.
  for (let run = 0; run < runs; run++) {
    for (const c of cases) {
      c.samples.push(timeBoxed(c.fn, seconds));
      await yieldToEventLoop();
    }
  }

  return cases.map((c) => ({ backend: c.backend, op: c.op, opsPerSec: median(c.samples), runs }));
}

/** Markdown table; adds node's speed-up over noble for each op. */
export function formatCryptoTable(rows: readonly CryptoBenchRow[]): string {
  const lines = ['| backend | op | ops/s (median) | runs | vs noble |', '|---|---|---:|---:|---:|'];
  for (const row of rows) {
    const base = rows.find((r) => r.backend === 'noble' && r.op === row.op);
    const ratio = base && base.opsPerSec > 0 ? `${(row.opsPerSec / base.opsPerSec).toFixed(1)}×` : '–';
    lines.push(`| ${row.backend} | ${row.op} | ${Math.round(row.opsPerSec).toLocaleString('en-US')} | ${row.runs} | ${ratio} |`);
  }
  return lines.join('\n');
}
