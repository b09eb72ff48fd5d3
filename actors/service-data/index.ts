/**
 * Sealed service data, the consumer's side (docs/PROTOCOL.md "Sealed service data"): a service hub or
 * any subscriber holding the enrolled K_SM public keys tells genuine readings from forged, replayed
 * and reordered ones. The sealing side is the hypervisor's (actors/hypervisor/service-seal.ts).
 */
export {
  parseServiceTopic,
  ServiceDataVerifier,
  type ForgedReason,
  type OutcomeKind,
  type ServiceDataOutcome,
  type ServiceDataVerifierOptions,
  type ServiceSource,
  type VerifierCounters,
} from './verifier.ts';
