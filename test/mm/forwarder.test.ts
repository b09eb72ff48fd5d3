/**
 * The forwarder's backpressure signals to services: `refused` for each message mm took but could not
 * send, and one `resume` per run of refusals — when the link says it has room again, or when that
 * service's next message goes out — never to a service that was not refused.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { createTestKit } from '../../runtime/index.ts';
import { forwarder, type ForwarderMsg, type HubLink } from '../../actors/mm/index.ts';

function setup() {
  const kit = createTestKit();
  const domain = kit.system.domain('mm');
  let room = true;
  const link: HubLink = { start: () => {}, publishRequest: () => {}, publishService: () => room, close: () => {} };
  const heard: string[] = [];
  const fwd = domain.spawn<ForwarderMsg>(
    forwarder({
      link: () => link,
      toService: () => true,
      refused: (service, stream) => void heard.push(`${service}: refused ${stream}`),
      resume: (service) => void heard.push(`${service}: resume`),
    }),
  );
  domain.start();
  const out = (service: string): void => {
    fwd.tell({ type: 'out', service, stream: 'data', payload: new Uint8Array(4) });
    kit.run();
  };
  const writable = (): void => {
    fwd.tell({ type: 'writable' });
    kit.run();
  };
  return { heard, out, writable, setRoom: (r: boolean) => void (room = r) };
}

test('a refused service hears resume once when the link has room again; others hear nothing', () => {
  const f = setup();
  f.out('a');
  f.writable();
  assert.deepEqual(f.heard, [], 'nothing refused, nothing to resume');

  f.setRoom(false);
  f.out('a');
  f.out('a');
  assert.deepEqual(f.heard, ['a: refused data', 'a: refused data']);

  f.setRoom(true);
  f.writable();
  f.writable();
  assert.deepEqual(f.heard.slice(2), ['a: resume'], 'one resume per run of refusals, only to the refused service');
});

test('a refused service that gets a message through hears resume at once', () => {
  const f = setup();
  f.setRoom(false);
  f.out('b');
  f.setRoom(true);
  f.out('b');
  f.out('b');
  f.writable();
  assert.deepEqual(f.heard, ['b: refused data', 'b: resume']);
});
