/**
 * dominion's actor runtime: bounded mailboxes, a priority scheduler, an injected clock, supervision
 * and byte-framed channels between domains. It knows nothing of tickets, keys or MQTT.
 */
export { assert, RuntimeAssertion } from './assert.ts';
export { ManualClock, RealClock, immediateWaker, type Clock, type ClockHandle, type Waker } from './clock.ts';
export { Escalation, MailboxOverflow, StartFailure, describe } from './errors.ts';
export { Mailbox } from './mailbox.ts';
export { Scheduler, PRIORITY_LEVELS, type SchedulerOptions } from './scheduler.ts';
export { Supervisor } from './supervisor.ts';
export { ActorSystem, type ActorSystemOptions, type EscalationHandler } from './system.ts';
export { ChannelError, CHANNEL_ERROR_CODES, type ChannelErrorCode } from './channel-error.ts';
export { FrameReader, checkFrame, encodeFrame, frameLength, writeFrame, FRAME_HEADER_BYTES } from './frame.ts';
export { FrameArena } from './arena.ts';
export {
  ChannelEndpoint,
  defineChannel,
  openChannel,
  rawCodec,
  type Channel,
  type ChannelCounters,
  type FramePeer,
  type ChannelSpec,
  type MessageCodec,
} from './channel.ts';
export { linkStream, type ByteStream, type StreamLink, type StreamLinkOptions } from './stream-link.ts';
export { createTestKit, type Probe, type TestKit } from './testkit.ts';
export type {
  ActorContext,
  ActorRef,
  ActorSpec,
  ActorState,
  ActorStats,
  Behavior,
  Strategy,
  SupervisorOptions,
  SystemEvent,
  Timer,
} from './types.ts';
export { Listeners } from './listeners.ts';
export { withCapacity } from './spec.ts';
export { PowerCycle } from './power-cycle.ts';
