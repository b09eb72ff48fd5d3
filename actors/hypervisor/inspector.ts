/**
 * The inspector: builds a VM domain's runtime information from what the runtime itself knows — the
 * actors running and the digest of their code, restarts, mailbox high-water marks and drops — so a
 * VM cannot write its own report (docs/ARCHITECTURE.md §2, step 3).
 */
import type { ActorSystem } from '../../runtime/index.ts';
import { create, RuntimeInfoSchema, type RuntimeInfo } from '../../proto/index.ts';
import type { CryptoBackend } from '../crypto/index.ts';

export interface VmFacts {
  /** The VM's domain name, e.g. `sm:sensor`. */
  readonly domain: string;
  /** Actor paths the hypervisor itself put there (channel inlets): not the VM's own actors. */
  readonly platformPaths: ReadonlySet<string>;
  readonly boots: number;
  readonly imageDigest: Uint8Array;
}

const IMAGE = 'image/';
const encoder = new TextEncoder();

export class Inspector {
  private readonly digests = new Map<string, Uint8Array>();

  constructor(
    private readonly system: ActorSystem,
    private readonly crypto: CryptoBackend,
  ) {}

  report(vm: VmFacts): RuntimeInfo {
    const prefix = `${vm.domain}/`;
    const actors = [];
    let restarts = 0;
    for (const s of this.system.stats()) {
      if (!s.path.startsWith(prefix) || vm.platformPaths.has(s.path) || s.state !== 'running') continue;
      const relative = s.path.slice(prefix.length);
      restarts += s.restarts;
      actors.push({
        // Image actors are named by their place in the image; anything else by its full path in the VM.
        name: relative.startsWith(IMAGE) ? relative.slice(IMAGE.length) : relative,
        codeDigest: this.digestOf(s.code),
        restarts: s.restarts,
        mailboxCapacity: s.capacity,
        mailboxHighWater: s.highWater,
        mailboxDrops: BigInt(s.drops),
      });
    }
    return create(RuntimeInfoSchema, {
      report: {
        case: 'domain',
        value: {
          actors,
          restarts,
          // One process hosts every domain in `single` placement, so this is the process's RSS, not the
          // VM's. (`memoryUsage.rss()` skips the heap walk `memoryUsage()` does on every request.)
          memoryBytes: BigInt(process.memoryUsage.rss()),
          imageDigest: vm.imageDigest,
          boots: vm.boots,
        },
      },
    });
  }

  /** SHA-512 of an actor's code, cached: the same code always hashes the same. */
  digestOf(code: string): Uint8Array {
    let d = this.digests.get(code);
    if (d === undefined) {
      d = this.crypto.sha512(encoder.encode(code));
      this.digests.set(code, d);
    }
    return d;
  }
}

/** What the hypervisor knows of a VM it runs as a process of its own (`process` placement). */
export interface OutsideFacts {
  readonly boots: number;
  /** Digest of the image the process was started from. */
  readonly imageDigest: Uint8Array;
  /** The process's resident memory, read by the hypervisor (/proc), not reported by the VM. */
  readonly memoryBytes: number;
}

/**
 * A VM process's report as seen from outside it: the image it was started from, its boots and
 * resident memory. No actor list: the hypervisor cannot read another process's actors, and taking
 * them from the VM would let the VM write its own report.
 */
export function outsideReport(facts: OutsideFacts): RuntimeInfo {
  return create(RuntimeInfoSchema, {
    report: {
      case: 'domain',
      value: { actors: [], restarts: 0, memoryBytes: BigInt(facts.memoryBytes), imageDigest: facts.imageDigest, boots: facts.boots },
    },
  });
}
