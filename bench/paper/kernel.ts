/**
 * The CPU workload: a fixed, deterministic compute kernel in the spirit of CoreMark — list
 * processing (sort and search of a small record list), an integer matrix multiply, a state machine
 * that scans a buffer of number-like tokens, and a CRC-16 folding every result into one checksum.
 * Every iteration does the same amount of work on inputs that depend on the iteration number (so
 * nothing can be hoisted out of the loop), and the checksum is returned, so the JIT cannot drop any
 * of it. Pure and allocation-free after `newKernel()`: the same code runs on the main thread, in the
 * `sm` service and in worker threads.
 */

const LIST = 48;
const N = 10; // matrix size
const TOKENS =
  '5012 1234 -874 +122 0x1f 7.5e3 -.5 3.14159 abc 12e 0x 99 -0 +7.e2 1e-4 0xdeadbeef 42 ' +
  '-12.5 6.022e23 x1 0.001 77 +0x9 8e8 -3e-3 .5 5. 4e 2.2.2 1000000 -77 0xABCDEF 13 ';

/** Reusable buffers for one thread. */
export interface Kernel {
  readonly keys: Int32Array;
  readonly vals: Int32Array;
  readonly order: Int32Array;
  readonly a: Int16Array;
  readonly b: Int16Array;
  readonly c: Int32Array;
  readonly text: Uint8Array;
  readonly counts: Int32Array;
}

export function newKernel(): Kernel {
  const text = new Uint8Array(TOKENS.length);
  for (let i = 0; i < TOKENS.length; i++) text[i] = TOKENS.charCodeAt(i);
  return {
    keys: new Int32Array(LIST),
    vals: new Int32Array(LIST),
    order: new Int32Array(LIST),
    a: new Int16Array(N * N),
    b: new Int16Array(N * N),
    c: new Int32Array(N * N),
    text,
    counts: new Int32Array(7),
  };
}

/** CRC-16/CCITT of one 16-bit value folded into `crc`. */
function crc16(crc: number, v: number): number {
  crc ^= (v & 0xffff) << 8;
  for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  crc ^= v & 0xff00;
  for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
}

/** List: fill from a seed, insertion-sort an index by value, then find keys by linear search. */
function listWork(k: Kernel, seed: number, crc: number): number {
  const { keys, vals, order } = k;
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < LIST; i++) {
    // A fixed permutation rotated by the seed: every iteration sorts equally disordered data.
    keys[i] = (i * 29 + seed) % LIST;
    x = (x * 1103515245 + 12345) >>> 0;
    vals[i] = (x >>> 16) & 0x7fff;
    order[i] = i;
  }
  for (let i = 1; i < LIST; i++) {
    const o = order[i]!;
    const v = keys[o]!;
    let j = i - 1;
    while (j >= 0 && keys[order[j]!]! > v) {
      order[j + 1] = order[j]!;
      j--;
    }
    order[j + 1] = o;
  }
  let found = 0;
  for (let q = 0; q < 8; q++) {
    const want = (seed + q * 5) % LIST;
    for (let i = 0; i < LIST; i++) {
      if (keys[order[i]!] === want) {
        found += vals[order[i]!]!;
        break;
      }
    }
  }
  return crc16(crc, found);
}

/** Matrix: C = A × B over 16-bit inputs, then a constant add and a bit extract, as CoreMark does. */
function matrixWork(k: Kernel, seed: number, crc: number): number {
  const { a, b, c } = k;
  for (let i = 0; i < N * N; i++) {
    a[i] = ((i * 31 + seed) & 0xff) - 128;
    b[i] = ((i * 17 + (seed >> 1)) & 0xff) - 100;
  }
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let m = 0; m < N; m++) s += a[i * N + m]! * b[m * N + j]!;
      c[i * N + j] = s;
    }
  }
  let acc = 0;
  for (let i = 0; i < N * N; i++) {
    const v = c[i]! + seed;
    acc += (v >> 2) & 0x0f;
    acc ^= v & 0x7f;
  }
  return crc16(crc, acc);
}

// States of the scanner.
const START = 0;
const INT = 1;
const FLOAT = 2;
const EXP = 3;
const SCI = 4;
const HEX = 5;
const INVALID = 6;

function step(state: number, ch: number, prev: number): number {
  const digit = ch >= 48 && ch <= 57;
  switch (state) {
    case START:
      return digit || ch === 43 || ch === 45 ? INT : ch === 46 ? FLOAT : INVALID;
    case INT:
      if (digit) return INT;
      if (ch === 46) return FLOAT;
      if (ch === 101 || ch === 69) return EXP;
      if ((ch === 120 || ch === 88) && prev === 48) return HEX;
      return INVALID;
    case FLOAT:
      return digit ? FLOAT : ch === 101 || ch === 69 ? EXP : INVALID;
    case EXP:
      return digit || ch === 43 || ch === 45 ? SCI : INVALID;
    case SCI:
      return digit ? SCI : INVALID;
    case HEX:
      return digit || (ch >= 97 && ch <= 102) || (ch >= 65 && ch <= 70) ? HEX : INVALID;
    default:
      return INVALID;
  }
}

/** State machine: classify each space-separated token as int / float / sci / hex / invalid. */
function stateWork(k: Kernel, seed: number, crc: number): number {
  const { text, counts } = k;
  counts.fill(0);
  let state = START;
  let transitions = 0;
  let prev = 0;
  // Start at a seed-dependent offset so the scan order varies but the amount of text does not.
  const offset = seed % text.length;
  for (let n = 0; n < text.length; n++) {
    const ch = text[(n + offset) % text.length]!;
    if (ch === 32) {
      if (state !== START) counts[state]!++;
      state = START;
    } else {
      const next = step(state, ch, prev);
      if (next !== state) transitions++;
      state = next;
    }
    prev = ch;
  }
  let acc = transitions;
  for (let i = 0; i < counts.length; i++) acc = (acc * 7 + counts[i]!) & 0xffff;
  return crc16(crc, acc);
}

/** One iteration of the kernel; returns the running CRC folded with this iteration's results. */
export function iterate(k: Kernel, seed: number, crc: number): number {
  crc = listWork(k, seed, crc);
  crc = matrixWork(k, seed, crc);
  crc = stateWork(k, seed, crc);
  return crc;
}

/** Runs `count` iterations starting at `seed`; returns the CRC (any caller must use it). */
export function runIterations(k: Kernel, seed: number, count: number, crc: number): number {
  for (let i = 0; i < count; i++) crc = iterate(k, seed + i, crc);
  return crc;
}
