/** Which topics the proxy treats as dominion's ticket replies (docs/PROTOCOL.md, proto/topics.ts). */
import { TOPIC_PREFIX } from '../../proto/index.ts';

/** A topic predicate for `StaleInjection.topic`: the reply topics of `deviceId` (every instance), or of any device. */
export function replyTopicOf(deviceId?: string): (topic: string) => boolean {
  const prefix = `${TOPIC_PREFIX}/device/`;
  return (topic) => {
    if (!topic.startsWith(prefix)) return false;
    const [device, kind, instance, ...more] = topic.slice(prefix.length).split('/');
    return (
      kind === 'reply' && instance !== undefined && instance !== '' && more.length === 0 && (deviceId === undefined || device === deviceId)
    );
  };
}
