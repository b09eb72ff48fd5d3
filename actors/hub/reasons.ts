/**
 * Why the hub decided what it did, as a closed union: every reason a decision can carry is listed
 * here once, and `REASON_CLASS` classifies each one, so a new reason that nobody classified is a
 * compile error rather than a string some other file fails to match.
 *
 * The strings are the ones stored in the hub database (`audit.reason`,
 * `instance_activity.last_reason`) and counted in `HubCounterSnapshot`; they must not change without
 * a migration. Reading them back goes through `parseDecisionReason` / `parseAuditReason`.
 *
 * Instance states, for the registry and `dominion devices` (docs/ARCHITECTURE.md §7: silence and
 * failed checks are recorded apart):
 * - `ok`               holding a ticket
 * - `fail`             the hub withheld because a check on its request or runtime information failed
 * - `withheld`         withheld for another reason: quarantined, revoked, operator, no policy, …
 * - `update-required`  must run another image first
 * - `timeout`          its deadline passed with no request since its last ticket: silence
 */
export type HubOutcome = 'ticket' | 'withheld' | 'update-required' | 'refused';

/**
 * The exchanges a hub answers on its request topic, told apart by the signature context of the
 * envelope (docs/PROTOCOL.md): deferral tickets, gated boot, image transfer. Only `ticket` decisions
 * move an instance's state; the others have outcomes and reasons of their own, below.
 */
export type Exchange = 'ticket' | 'boot' | 'image';

/** What a policy concluded for an authenticated, enrolled, active instance. */
export type PolicyCode =
  | 'granted'
  | 'operator-withheld'
  | 'no-policy'
  | 'foreign-actor'
  | 'digest-mismatch'
  /** The instance runs an image the policy's `imageDigests` does not list. */
  | 'image-mismatch'
  | 'firmware-unparseable'
  | 'firmware-too-old'
  | 'operator-update'
  /** UPDATE_REQUIRED from a staged rollout (`dominion rollout`): the device is in its cohort. */
  | 'rollout-update'
  /**
   * A ticket although an update is demanded: the instance reports that it tried the demanded release
   * and rolled back. Demanding it again would only loop (reboot, refetch, roll back); the device runs
   * its last good image, and the operator sees the failed update in the audit and `devices`.
   */
  | 'update-rolled-back'
  /** A ticket for a quarantined device's `device` instance in recovery mode, or its `mm`: quarantine holds it there. */
  | 'held-in-recovery';

/** The core's own checks on an authenticated request, before policy: each is answered (WITHHELD). */
export type StateReason = 'malformed-request' | 'wrong-hub' | 'unknown-device' | 'revoked' | 'quarantined';

/** Why a request got no reply at all. */
export type RefusalReason =
  | 'malformed-envelope'
  | 'wrong-context'
  | 'unknown-signer'
  | 'bad-signature'
  | 'malformed-payload'
  | 'key-device-mismatch'
  | 'key-instance-mismatch'
  /** Signed by another device than the one whose request topic it arrived on (authenticate.ts). */
  | 'topic-device-mismatch'
  | 'replayed'
  | 'reply-invalid'
  | 'internal-error';

export type DecisionReason = PolicyCode | StateReason | RefusalReason;

/** A boot request's outcome: a granted BootTicket, a withheld one, or no reply at all. */
export type BootOutcome = 'boot-granted' | 'boot-withheld' | 'refused';

/**
 * Why a boot was decided so: the core's checks (as for tickets), an operator withhold on the device,
 * or an image below a release the operator requires (`image-too-old`, POLICY_FAILED).
 */
export type BootReason = 'granted' | 'operator-withheld' | 'image-too-old' | StateReason | RefusalReason;

/** An image request's outcome: a chunk, a signed refusal (ImageChunk.refused), or no reply at all. */
export type ImageOutcome = 'chunk' | 'chunk-refused' | 'refused';

/** Why: served, or the refusal (each maps to one WithholdReason, decide-image.ts). */
export type ImageReason =
  'served' | 'not-published' | 'rate-limited' | 'malformed-request' | 'wrong-hub' | 'unknown-device' | 'revoked' | RefusalReason;

export type InstanceState = 'ok' | 'fail' | 'withheld' | 'update-required' | 'timeout';

/**
 * `grant`: a ticket. `check`: withheld because a check on what the instance sent failed (→ `fail`).
 * `other`: withheld or update demanded for a reason outside the request (→ `withheld`).
 * `refusal`: never answered (the instance's state stays as it was).
 */
type ReasonClass = 'grant' | 'check' | 'other' | 'refusal';

const REASON_CLASS: Record<DecisionReason, ReasonClass> = {
  granted: 'grant',
  'update-rolled-back': 'grant',
  'held-in-recovery': 'grant',
  'foreign-actor': 'check',
  'digest-mismatch': 'check',
  'image-mismatch': 'check',
  'firmware-unparseable': 'check',
  'firmware-too-old': 'check',
  'malformed-request': 'check',
  'operator-withheld': 'other',
  'no-policy': 'other',
  'operator-update': 'other',
  'rollout-update': 'other',
  'wrong-hub': 'other',
  'unknown-device': 'other',
  revoked: 'other',
  quarantined: 'other',
  'malformed-envelope': 'refusal',
  'wrong-context': 'refusal',
  'unknown-signer': 'refusal',
  'bad-signature': 'refusal',
  'malformed-payload': 'refusal',
  'key-device-mismatch': 'refusal',
  'key-instance-mismatch': 'refusal',
  'topic-device-mismatch': 'refusal',
  replayed: 'refusal',
  'reply-invalid': 'refusal',
  'internal-error': 'refusal',
};

/** What an instance's last decision says about it; undefined for a refusal (no answer was given). */
export function instanceStateOf(outcome: HubOutcome, reason: DecisionReason): InstanceState | undefined {
  switch (outcome) {
    case 'ticket':
      return 'ok';
    case 'update-required':
      return 'update-required';
    case 'withheld':
      return REASON_CLASS[reason] === 'check' ? 'fail' : 'withheld';
    case 'refused':
      return undefined;
  }
}

function isDecisionReason(text: string): text is DecisionReason {
  return Object.hasOwn(REASON_CLASS, text);
}

/** Stored text outside this union: a database written by a newer (or patched) hub. */
export class ReasonError extends Error {
  override readonly name = 'ReasonError';
  constructor(readonly text: string) {
    super(`unknown decision reason ${JSON.stringify(text.slice(0, 64))}`);
  }
}

/** A stored decision reason; throws ReasonError for text that is not one (never guessed). */
export function parseDecisionReason(text: string): DecisionReason {
  if (isDecisionReason(text)) return text;
  throw new ReasonError(text);
}

/** Audit rows written outside a decision: operator commands (admin.ts) and the deadline sweep. */
export type OperatorReason =
  | 'enrolled'
  | 're-enrolled'
  | 'reinstated'
  | 'quarantine'
  | 'release'
  | 'revoke'
  | 'withhold'
  | 'resume'
  | 'require-update'
  | 'clear-update'
  | 'policy'
  | 'publish'
  | 'pin-release-key'
  | 'rollout'
  | 'rollout-halt'
  | 'rollout-resume';
/** `silent`: a timeout; `refused`: a fail whose refusal reason was never recorded. */
export type SweepReason = 'silent' | 'refused';

/**
 * Rows a hub writes about a staged rollout as it stores reports (sqlite/rollouts.ts, outcome
 * `rollout`): a cohort device's first rollback or failure of the release, and the automatic halt.
 */
export type RolloutAuditReason = 'rollout-failure' | 'rollout-halt';

/** The audit row of a completed image fetch: its last chunk was served (decide-image.ts). */
export type ImageAuditReason = 'fetched';

/** Audit reasons outside a ticket decision. */
type OtherAuditReason = BootReason | ImageAuditReason | OperatorReason | RolloutAuditReason | SweepReason;

/** `unknown`: stored text this version does not know (kept readable, not an error: audits are for humans). */
export type AuditReason = DecisionReason | OtherAuditReason | 'unknown';

const OTHER_AUDIT_REASONS: ReadonlySet<string> = new Set<OtherAuditReason>([
  'image-too-old',
  'fetched',
  'publish',
  'pin-release-key',
  'enrolled',
  're-enrolled',
  'reinstated',
  'quarantine',
  'release',
  'revoke',
  'withhold',
  'resume',
  'require-update',
  'clear-update',
  'policy',
  'rollout',
  'rollout-halt',
  'rollout-resume',
  'rollout-failure',
  'silent',
  'refused',
]);

export function parseAuditReason(text: string): AuditReason {
  return isDecisionReason(text) || OTHER_AUDIT_REASONS.has(text) ? (text as AuditReason) : 'unknown';
}
