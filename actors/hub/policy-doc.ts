/**
 * Policy documents: the JSON form of a fleet default or per-device policy, as stored in the hub
 * database and given to `dominion policy --set <file>`.
 *
 *   {
 *     "default":   { "deferralMs": 60000 },
 *     "instances": {
 *       "device": { "deferralMs": 60000, "maxDeferralMs": 120000, "minFirmwareVersion": "1.2.0",
 *                   "firmwareUpdate": { "version": "1.2.0", "imageDigest": "<128 hex>",
 *                                       "fetchTopic": "dominion/v1/hub/ih-1/request", "sizeBytes": 1048576,
 *                                       "releaseVersion": 12 } },
 *       "mm":     { "deferralMs": 30000, "allowedActors": ["ticket-receiver", "forwarder", "relay", "uplink"],
 *                   "expectedDigests": { "forwarder": "<128 hex>" } }
 *     }
 *   }
 *
 * Resolution for one instance: the device's rule for that instance, else the device's default, else
 * the fleet's rule for the instance, else the fleet default; none = WITHHELD (`no-policy`).
 * Unknown keys are errors, so a typo never silently loosens a policy.
 */
import { fromHex, hex } from '../crypto/index.ts';
import { instanceProblem, type Instance } from '../../proto/index.ts';
import {
  checkInstancePolicy,
  checkUpdateTarget,
  PolicyError,
  type InstancePolicy,
  type MemoryPolicyRules,
  type UpdateTarget,
} from './policy.ts';

const DOC_KEYS = new Set(['default', 'instances']);
const RULE_KEYS = new Set([
  'deferralMs',
  'maxDeferralMs',
  'allowedActors',
  'expectedDigests',
  'imageDigests',
  'minFirmwareVersion',
  'firmwareUpdate',
]);
const TARGET_KEYS = new Set(['version', 'imageDigest', 'fetchTopic', 'sizeBytes', 'releaseVersion']);

/** Parses and checks a policy document; throws PolicyError naming the offending path. */
export function parsePolicyDocument(value: unknown, where = 'policy'): MemoryPolicyRules {
  const doc = object(value, where, DOC_KEYS);
  const out: { default?: InstancePolicy; instances?: Record<string, InstancePolicy> } = {};
  if (doc.default !== undefined) out.default = parseRule(doc.default, `${where}.default`, 'default');
  if (doc.instances !== undefined) {
    const instances = object(doc.instances, `${where}.instances`);
    out.instances = {};
    for (const [name, rule] of Object.entries(instances)) {
      const problem = instanceProblem(name);
      if (problem !== undefined)
        throw new PolicyError(`${where}.instances: ${JSON.stringify(name.slice(0, 40))} is not an instance (${problem})`);
      out.instances[name] = parseRule(rule, `${where}.instances.${name}`, name);
    }
  }
  return out;
}

/** The JSON text of a policy document (digests as hex), as stored and as `--show` prints it. */
export function policyDocumentJson(rules: MemoryPolicyRules, indent?: number): string {
  const rule = (p: InstancePolicy): unknown => ({
    ...p,
    ...(p.firmwareUpdate !== undefined ? { firmwareUpdate: updateTargetJson(p.firmwareUpdate) } : {}),
  });
  const doc: Record<string, unknown> = {};
  if (rules.default !== undefined) doc.default = rule(rules.default);
  if (rules.instances !== undefined) doc.instances = Object.fromEntries(Object.entries(rules.instances).map(([k, v]) => [k, rule(v)]));
  return JSON.stringify(doc, null, indent);
}

/** An update target as JSON-safe values (digest as hex, size as a number). */
export function updateTargetJson(t: UpdateTarget): {
  version: string;
  imageDigest: string;
  fetchTopic: string;
  sizeBytes: number;
  releaseVersion: number;
} {
  return {
    version: t.version,
    imageDigest: hex(t.imageDigest),
    fetchTopic: t.fetchTopic,
    sizeBytes: Number(t.sizeBytes),
    releaseVersion: t.releaseVersion,
  };
}

/** Parses an update target from its JSON form and checks it as the protocol would. */
export function parseUpdateTarget(value: unknown, where: string, instance: Instance): UpdateTarget {
  const t = object(value, where, TARGET_KEYS);
  const version = string(t.version, `${where}.version`);
  const fetchTopic = string(t.fetchTopic, `${where}.fetchTopic`);
  const digestText = string(t.imageDigest, `${where}.imageDigest`);
  let imageDigest: Uint8Array;
  try {
    imageDigest = fromHex(digestText);
  } catch {
    throw new PolicyError(`${where}.imageDigest must be hex`);
  }
  const sizeBytes = t.sizeBytes;
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes < 1)
    throw new PolicyError(`${where}.sizeBytes must be a positive integer`);
  // Required since UPDATE_REQUIRED carries release_version: a target stored before it cannot be answered.
  const releaseVersion = t.releaseVersion;
  if (typeof releaseVersion !== 'number' || !Number.isSafeInteger(releaseVersion) || releaseVersion < 1)
    throw new PolicyError(`${where}.releaseVersion must be a positive integer (the release the instance must run)`);
  try {
    return checkUpdateTarget(instance, { version, imageDigest, fetchTopic, sizeBytes, releaseVersion });
  } catch (err) {
    throw new PolicyError(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The rule that applies to `instance`: device rule, device default, fleet rule, fleet default. */
export function resolveInstancePolicy(
  device: MemoryPolicyRules | undefined,
  fleet: MemoryPolicyRules | undefined,
  instance: string,
): InstancePolicy | undefined {
  return device?.instances?.[instance] ?? device?.default ?? fleet?.instances?.[instance] ?? fleet?.default;
}

function parseRule(value: unknown, where: string, instance: string): InstancePolicy {
  const r = object(value, where, RULE_KEYS);
  const rule: {
    deferralMs: number;
    maxDeferralMs?: number;
    allowedActors?: string[];
    expectedDigests?: Record<string, string>;
    imageDigests?: string[];
    minFirmwareVersion?: string;
    firmwareUpdate?: UpdateTarget;
  } = { deferralMs: integer(r.deferralMs, `${where}.deferralMs`) };
  if (r.maxDeferralMs !== undefined) rule.maxDeferralMs = integer(r.maxDeferralMs, `${where}.maxDeferralMs`);
  if (r.allowedActors !== undefined) {
    if (!Array.isArray(r.allowedActors)) throw new PolicyError(`${where}.allowedActors must be an array of actor names`);
    rule.allowedActors = r.allowedActors.map((a, i) => string(a, `${where}.allowedActors[${i}]`));
  }
  if (r.expectedDigests !== undefined) {
    const digests = object(r.expectedDigests, `${where}.expectedDigests`);
    rule.expectedDigests = Object.fromEntries(
      Object.entries(digests).map(([name, d]) => [name, string(d, `${where}.expectedDigests.${name}`)]),
    );
  }
  if (r.imageDigests !== undefined) {
    if (!Array.isArray(r.imageDigests)) throw new PolicyError(`${where}.imageDigests must be an array of SHA-512 digests`);
    rule.imageDigests = r.imageDigests.map((d, i) => string(d, `${where}.imageDigests[${i}]`));
  }
  if (r.minFirmwareVersion !== undefined) rule.minFirmwareVersion = string(r.minFirmwareVersion, `${where}.minFirmwareVersion`);
  if (r.firmwareUpdate !== undefined) rule.firmwareUpdate = parseUpdateTarget(r.firmwareUpdate, `${where}.firmwareUpdate`, 'device');
  try {
    return checkInstancePolicy(instance, rule);
  } catch (err) {
    throw new PolicyError(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function object(value: unknown, where: string, allowed?: ReadonlySet<string>): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PolicyError(`${where} must be a JSON object`);
  const obj = value as Record<string, unknown>;
  if (allowed !== undefined) {
    const unknown = Object.keys(obj).filter((k) => !allowed.has(k));
    if (unknown.length > 0)
      throw new PolicyError(`${where}: unknown key ${JSON.stringify(unknown[0]!.slice(0, 40))} (allowed: ${[...allowed].join(', ')})`);
  }
  return obj;
}

function string(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new PolicyError(`${where} must be a non-empty string`);
  return value;
}

function integer(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new PolicyError(`${where} must be an integer (milliseconds)`);
  return value;
}
