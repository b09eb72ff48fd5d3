/**
 * What `sw` remembers across resets: boot count and why the last reset happened (the paper's critique:
 * a device should say *why* it reset — outage, withheld ticket or failed check). Kept in the `sw`
 * data directory; written before the reset takes effect.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResetReason } from '../../proto/index.ts';

export interface BootRecord {
  bootCount: number;
  lastResetReason: ResetReason;
  lastResetDetail: string;
}

export interface DeviceStateStore {
  load(): BootRecord;
  save(record: BootRecord): void;
}

const FRESH: BootRecord = { bootCount: 0, lastResetReason: ResetReason.POWER_ON, lastResetDetail: 'power on' };

export class MemoryStateStore implements DeviceStateStore {
  private record: BootRecord = { ...FRESH };
  load(): BootRecord {
    return { ...this.record };
  }
  save(record: BootRecord): void {
    this.record = { ...record };
  }
}

/** JSON in `<dir>/device-state.json`, replaced atomically (write + rename). */
export class FileStateStore implements DeviceStateStore {
  private readonly path: string;
  constructor(private readonly dir: string) {
    this.path = join(dir, 'device-state.json');
  }

  load(): BootRecord {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return { ...FRESH };
    }
    try {
      const v = JSON.parse(text) as Partial<BootRecord>;
      if (typeof v.bootCount !== 'number' || typeof v.lastResetReason !== 'number') throw new Error('missing fields');
      return { bootCount: v.bootCount, lastResetReason: v.lastResetReason, lastResetDetail: String(v.lastResetDetail ?? '') };
    } catch (e) {
      throw new Error(`${this.path} is corrupt (${(e as Error).message}); move it away to start from a fresh boot count`);
    }
  }

  save(record: BootRecord): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(record));
    renameSync(tmp, this.path);
  }
}
