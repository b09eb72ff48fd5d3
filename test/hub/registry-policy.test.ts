import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hex } from '../../actors/crypto/index.ts';
import {
  compareVersions,
  dominates,
  IH_ROLE,
  MemoryAuditLog,
  MemoryPolicy,
  MemoryRegistry,
  parseHubStatus,
  parsePolicyDocument,
  encodeHubStatus,
  evaluateInstancePolicy,
  PolicyError,
  RegistryError,
  serviceHubRole,
} from '../../actors/hub/index.ts';
import { create } from '@bufbuild/protobuf';
import { RuntimeInfoSchema } from '../../proto/index.ts';
import { deviceRuntime, digestOf, domainRuntime, newSigner, node } from './fixtures.ts';

describe('MemoryRegistry', () => {
  it('enrols a key per instance with a prepared verifier, and finds it by key id', () => {
    const registry = new MemoryRegistry(node);
    const k = newSigner();
    const enrolled = registry.enroll('board-1', 'device', k.publicKey);
    assert.equal(hex(enrolled.keyId), hex(k.keyId));
    assert.equal(registry.keyById(k.keyId), enrolled);
    assert.equal(registry.keyFor('board-1', 'device'), enrolled);
    assert.equal(registry.device('board-1')?.state, 'active');
    const msg = new Uint8Array([1, 2, 3]);
    assert.ok(enrolled.verifier.verify(msg, k.sign(msg)));
  });

  it('rotating a key retires the old key id', () => {
    const registry = new MemoryRegistry(node);
    const a = newSigner();
    const b = newSigner();
    registry.enroll('board-1', 'mm', a.publicKey);
    registry.enroll('board-1', 'mm', b.publicKey);
    assert.equal(registry.keyById(a.keyId), undefined);
    assert.equal(registry.keyById(b.keyId)?.instance, 'mm');
  });

  it('refuses one key for two instances, bad ids, bad keys, unknown devices — with typed errors', () => {
    const registry = new MemoryRegistry(node);
    const k = newSigner();
    registry.enroll('board-1', 'sm:weather', k.publicKey);
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof RegistryError);
        return err.code;
      }
      return 'no error';
    };
    assert.equal(
      code(() => registry.enroll('board-1', 'device', k.publicKey)),
      'key-in-use',
    );
    assert.equal(
      code(() => registry.enroll('bad id!', 'device', newSigner().publicKey)),
      'bad-device-id',
    );
    assert.equal(
      code(() => registry.enroll('board-1', 'sm:' as never, newSigner().publicKey)),
      'bad-instance',
    );
    assert.equal(
      code(() => registry.enroll('board-1', 'device', new Uint8Array(31))),
      'bad-key',
    );
    assert.equal(
      code(() => registry.setState('nobody', 'revoked')),
      'unknown-device',
    );
    assert.equal(registry.keyById(new Uint8Array(16)), undefined);
  });
});

describe('MemoryPolicy configuration', () => {
  it('rejects bad rules when they are set, not when a device asks', () => {
    assert.throws(() => new MemoryPolicy({ instances: { mm: { deferralMs: 0 } } }), PolicyError);
    assert.throws(() => new MemoryPolicy({ instances: { mm: { deferralMs: 2 ** 32 } } }), PolicyError);
    assert.throws(() => new MemoryPolicy({ instances: { mm: { deferralMs: 1000, expectedDigests: { a: 'abc' } } } }), PolicyError);
    assert.throws(() => new MemoryPolicy({ instances: { device: { deferralMs: 1000, minFirmwareVersion: 'latest' } } }), PolicyError);
    // Under a second the reply's MQTT 5 expiry (whole seconds, at least 1) would outlive the deferral.
    assert.throws(() => new MemoryPolicy({ instances: { mm: { deferralMs: 999 } } }), /deferralMs must be an integer in 1000\.\./);
    assert.throws(() => new MemoryPolicy({ default: { deferralMs: 60_000, maxDeferralMs: 500 } }), /maxDeferralMs/);
    assert.throws(() => parsePolicyDocument({ instances: { device: { deferralMs: 1 } } }), PolicyError);
    new MemoryPolicy({ instances: { mm: { deferralMs: 1000 } } });
    const policy = new MemoryPolicy();
    assert.throws(
      () =>
        policy.requireUpdate('board-1', 'mm', {
          version: '1',
          imageDigest: digestOf('x'),
          fetchTopic: 'images/#',
          sizeBytes: 1,
          releaseVersion: 1,
        }),
      PolicyError,
    );
    assert.throws(
      () =>
        policy.requireUpdate('board-1', 'mm', {
          version: '1',
          imageDigest: new Uint8Array(0),
          fetchTopic: 'images/mm',
          sizeBytes: 1,
          releaseVersion: 1,
        }),
      PolicyError,
    );
  });
});

describe('semver-ish versions', () => {
  it('orders versions', () => {
    const cases: [string, string, number][] = [
      ['1.2.3', '1.2.3', 0],
      ['1.2', '1.2.0', 0],
      ['v2.0.0', '2.0.0', 0],
      ['1.10.0', '1.9.9', 1],
      ['2.0.0-rc.1', '2.0.0', -1],
      ['2.0.0-rc.2', '2.0.0-rc.10', -1],
      ['2.0.0-alpha', '2.0.0-1', 1],
      ['2.0.0+build.7', '2.0.0', 0],
      ['0.9', '1', -1],
    ];
    for (const [a, b, want] of cases) assert.equal(compareVersions(a, b), want, `${a} vs ${b}`);
    assert.equal(compareVersions('nightly', '1.0'), undefined);
    assert.equal(compareVersions('1..2', '1.0'), undefined);
  });
});

describe('roles, status, audit', () => {
  it('IH dominates device and mm; SH_k only sm:k', () => {
    const sh = serviceHubRole('weather');
    assert.deepEqual(
      ['device', 'mm', 'sm:weather', 'sm:other', 'bogus'].map((i) => dominates(IH_ROLE, i)),
      [true, true, false, false, false],
    );
    assert.deepEqual(
      ['device', 'mm', 'sm:weather', 'sm:other'].map((i) => dominates(sh, i)),
      [false, false, true, false],
    );
  });

  it('status round-trips and junk parses to undefined', () => {
    const status = {
      hubId: 'ih-1',
      role: 'ih',
      online: true,
      subscription: 'plain',
      protocol: 4,
      clientId: 'hub-ih-1-x',
      atMs: 5,
    } as const;
    assert.deepEqual(parseHubStatus(encodeHubStatus(status)), status);
    for (const junk of ['', '{', 'null', '{"hubId":1}', '[]']) assert.equal(parseHubStatus(new TextEncoder().encode(junk)), undefined);
    assert.equal(parseHubStatus(new Uint8Array([0xff, 0xfe])), undefined);
  });

  it('the audit ring keeps the newest entries and counts all', () => {
    const audit = new MemoryAuditLog(3);
    for (let i = 0; i < 5; i++) audit.append({ atMs: i, outcome: 'refused', reason: 'bad-signature' });
    assert.deepEqual(
      audit.entries().map((e) => e.atMs),
      [2, 3, 4],
    );
    assert.equal(audit.total, 5);
  });
});

describe('imageDigests: the images an instance may run', () => {
  const runtime = (init: ReturnType<typeof domainRuntime> | ReturnType<typeof deviceRuntime>) => create(RuntimeInfoSchema, init);
  const rule = (digests: string[]) => ({ deferralMs: 5000, imageDigests: digests });

  it('grants a VM running a listed image and withholds any other as image-mismatch; the device is judged by its manifest digest', () => {
    const listed = hex(digestOf('image'));
    assert.equal(evaluateInstancePolicy(rule([listed]), 'sm:weather', runtime(domainRuntime([]))).kind, 'ticket');
    const other = evaluateInstancePolicy(rule([listed]), 'sm:weather', runtime(domainRuntime([], 'rogue')));
    assert.equal(other.kind, 'withheld');
    assert.equal(other.kind === 'withheld' && other.code, 'image-mismatch');
    assert.equal(evaluateInstancePolicy(rule([hex(digestOf('manifest'))]), 'device', runtime(deviceRuntime())).kind, 'ticket');
    assert.equal(evaluateInstancePolicy(rule([listed]), 'device', runtime(deviceRuntime())).kind, 'withheld');
  });

  it('refuses an empty list, a list too long, and anything but SHA-512 hex', () => {
    const good = hex(digestOf('image'));
    assert.throws(() => parsePolicyDocument({ instances: { mm: rule([]) } }), /imageDigests must list 1 to 16/);
    assert.throws(() => parsePolicyDocument({ instances: { mm: rule(Array(17).fill(good)) } }), /imageDigests must list/);
    assert.throws(() => parsePolicyDocument({ instances: { mm: rule(['abc']) } }), /128 hex digits/);
    assert.throws(() => parsePolicyDocument({ instances: { mm: { deferralMs: 5000, imageDigests: good } } }), /must be an array/);
    assert.deepEqual(parsePolicyDocument({ instances: { mm: rule([good.toUpperCase()]) } }).instances?.mm?.imageDigests, [good]);
  });
});
