/**
 * A worker thread of the multi-core CPU workload: runs the kernel in a tight loop and publishes its
 * iteration count in a shared slot (`Float64Array` over a SharedArrayBuffer) until slot 0 says stop.
 * Started by the harness directly (HYP) or by the `cpu` service (VM, DOM).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { newKernel, runIterations } from './kernel.ts';

export interface CpuWorkerData {
  readonly shared: SharedArrayBuffer;
  /** This worker's slot (1-based; slot 0 is the stop flag). */
  readonly slot: number;
  /** Iterations between updates of the shared count. */
  readonly chunk: number;
}

const { shared, slot, chunk } = workerData as CpuWorkerData;
const counts = new Float64Array(shared);
const kernel = newKernel();
let crc = 0;
let done = 0;
while (counts[0] === 0) {
  crc = runIterations(kernel, done, chunk, crc);
  done += chunk;
  counts[slot] = done;
}
// The checksum leaves the thread, so no iteration can be optimised away.
parentPort?.postMessage({ slot, iterations: done, crc });
