/**
 * The in-memory state of image serving (decide-image.ts): a token bucket per device, how often each
 * request nonce was answered, and which completed fetches were audited lately. Chunk serving writes
 * nothing to the database per chunk, so this state lives in the hub process only: it is lost at a
 * restart, and each process of a shared subscription keeps its own (a device spread over n processes
 * gets up to n times the rate). Both are acceptable: the limits bound the cost of one device, they
 * are not a security boundary (every request is authenticated before it reaches them).
 *
 * The decision reads it through `ImageGateView` and returns an `ImageGateEffect`; `HubCore` applies
 * the effect at once (before the next decision), not at the batch's commit: none of it is durable,
 * and a batch that fails to commit loses nothing a device would miss.
 *
 * Time is the `nowMs` of each decision (the server's injected clock), never a clock of its own.
 */
import { hex } from '../crypto/index.ts';

/**
 * Burst: a whole update of the largest set of images one hub serves a device, at once. The IH's is
 * sw + hypervisor + mm, whose raw bundle budgets (boards/profiles.ts) add up to 512 KiB = 16 chunks of
 * 32 KiB; 64 leaves room for a device that asks for smaller chunks, and for retries.
 */
export const IMAGE_BURST_CHUNKS = 64;
/**
 * Steady rate once the burst is spent: 4 chunks (up to 128 KiB) a second per device. A device that
 * keeps asking after its update is done (a bug, or a loop) then costs the hub 4 signatures a second.
 */
export const IMAGE_CHUNKS_PER_SECOND = 4;
/**
 * A device's fetcher resends the same signed request after silence (a late reply still counts), so a
 * repeated nonce is answered again — but at most this many times in all: a captured request replayed
 * by someone else cannot spend the device's tokens for long.
 */
export const IMAGE_ANSWERS_PER_NONCE = 4;
/** How long answered nonces are remembered, and how long a completed fetch is not audited again. */
export const IMAGE_MEMORY_MS = 600_000;
/** Devices and nonces tracked at most (oldest dropped first): bounded memory whatever devices do. */
const MAX_TRACKED = 100_000;

export interface ImageGateLimits {
  readonly burst?: number;
  readonly perSecond?: number;
  readonly answersPerNonce?: number;
}

/** What a decision may ask of the gate; reads only. */
export interface ImageGateView {
  /** Times this nonce was answered already. */
  answers(deviceId: string, instance: string, nonce: Uint8Array): number;
  /** The most answers a nonce gets. */
  readonly answersPerNonce: number;
  /** True when the device has a token for one more chunk at `nowMs`. */
  allows(deviceId: string, nowMs: number): boolean;
  /** True when a completed fetch of this image by this instance was audited within IMAGE_MEMORY_MS. */
  audited(deviceId: string, instance: string, label: string, version: number, nowMs: number): boolean;
}

/** What one image decision changes in the gate. */
export interface ImageGateEffect {
  readonly deviceId: string;
  readonly instance: string;
  readonly nonce: Uint8Array;
  readonly atMs: number;
  /** A token was spent (false: the request was refused for want of one). */
  readonly spend: boolean;
  /** The fetch of this image completed and was audited. */
  readonly fetched?: { readonly label: string; readonly version: number };
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class ImageGate implements ImageGateView {
  readonly burst: number;
  readonly perSecond: number;
  readonly answersPerNonce: number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly nonces = new Map<string, { count: number; atMs: number }>();
  private readonly fetches = new Map<string, number>();

  constructor(limits: ImageGateLimits = {}) {
    this.burst = limits.burst ?? IMAGE_BURST_CHUNKS;
    this.perSecond = limits.perSecond ?? IMAGE_CHUNKS_PER_SECOND;
    this.answersPerNonce = limits.answersPerNonce ?? IMAGE_ANSWERS_PER_NONCE;
    if (!(this.burst >= 1) || !(this.perSecond > 0) || !(this.answersPerNonce >= 1))
      throw new RangeError('image gate limits must be positive (burst and answers per nonce at least 1)');
  }

  answers(deviceId: string, instance: string, nonce: Uint8Array): number {
    return this.nonces.get(nonceKey(deviceId, instance, nonce))?.count ?? 0;
  }

  allows(deviceId: string, nowMs: number): boolean {
    return this.tokens(deviceId, nowMs) >= 1;
  }

  audited(deviceId: string, instance: string, label: string, version: number, nowMs: number): boolean {
    const at = this.fetches.get(fetchKey(deviceId, instance, label, version));
    return at !== undefined && nowMs - at < IMAGE_MEMORY_MS && nowMs >= at;
  }

  apply(e: ImageGateEffect): void {
    const key = nonceKey(e.deviceId, e.instance, e.nonce);
    const seen = this.nonces.get(key);
    this.nonces.delete(key); // re-inserted last: insertion order stays age order
    this.nonces.set(key, { count: (seen?.count ?? 0) + 1, atMs: e.atMs });
    prune(this.nonces, e.atMs, (v) => v.atMs);
    if (e.spend) {
      const tokens = this.tokens(e.deviceId, e.atMs);
      this.buckets.delete(e.deviceId);
      this.buckets.set(e.deviceId, { tokens: Math.max(0, tokens - 1), atMs: e.atMs });
      // Too many devices: drop the least recently active first (insertion order = last spend). Its
      // bucket has most likely refilled anyway, and a refilled bucket is the same as none.
      for (const id of this.buckets.keys()) {
        if (this.buckets.size <= MAX_TRACKED) break;
        this.buckets.delete(id);
      }
    }
    if (e.fetched !== undefined) {
      const fk = fetchKey(e.deviceId, e.instance, e.fetched.label, e.fetched.version);
      this.fetches.delete(fk);
      this.fetches.set(fk, e.atMs);
      prune(this.fetches, e.atMs, (at) => at);
    }
  }

  /** Devices with a bucket (tests, stats). */
  get trackedDevices(): number {
    return this.buckets.size;
  }

  private tokens(deviceId: string, nowMs: number): number {
    const b = this.buckets.get(deviceId);
    return b === undefined ? this.burst : this.refilled(b, nowMs);
  }

  private refilled(b: Bucket, nowMs: number): number {
    // A clock that went backwards refills nothing (and takes nothing back).
    const elapsed = Math.max(0, nowMs - b.atMs);
    return Math.min(this.burst, b.tokens + (elapsed * this.perSecond) / 1000);
  }
}

/** Drops entries older than IMAGE_MEMORY_MS, then the oldest past MAX_TRACKED (insertion order = age). */
function prune<V>(map: Map<string, V>, nowMs: number, atOf: (v: V) => number): void {
  for (const [key, value] of map) {
    if (map.size <= MAX_TRACKED && nowMs - atOf(value) < IMAGE_MEMORY_MS) break;
    map.delete(key);
  }
}

function nonceKey(deviceId: string, instance: string, nonce: Uint8Array): string {
  return `${deviceId}\u0000${instance}\u0000${hex(nonce)}`;
}

function fetchKey(deviceId: string, instance: string, label: string, version: number): string {
  return `${deviceId}\u0000${instance}\u0000${label}\u0000${version}`;
}
