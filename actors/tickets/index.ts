/**
 * The ticket protocol shared by the AWDTs (`sw`, `hypervisor`) and the hubs: signed envelopes, typed
 * refusals, and the AWDT itself (its ticket core and the actor that owns its deadline). The AWDT
 * holds state (the outstanding nonce, the deadline); nothing here touches the network.
 */
export { open, pinned, seal, type Opened, type VerifierLookup } from './envelope.ts';
export { TicketError, type TicketErrorCode } from './errors.ts';
export { AwdtCore, REPLY_VERIFY_BURST, REPLY_VERIFY_PER_SECOND, type AwdtCoreConfig, type ReplyOutcome } from './awdt.ts';
export { awdtActor, type AwdtActorOptions, type AwdtEvent, type AwdtMsg, type ExpiryCause } from './awdt-actor.ts';
