import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInstanceError, isInstance, isServiceInstance, parseInstance, serviceInstance, serviceOf } from '../../proto/index.ts';
import type { Instance } from '../../proto/index.ts';

test('parseInstance accepts device, mm and sm:<service>', () => {
  for (const s of ['device', 'mm', 'sm:weather', 'sm:a', 'sm:0-9', `sm:${'x'.repeat(32)}`]) {
    assert.equal(parseInstance(s), s);
    assert.ok(isInstance(s));
  }
});

test('parseInstance rejects everything else with a typed error', () => {
  const bad = [
    '',
    'Device',
    'sw',
    'hypervisor',
    'sm',
    'sm:',
    'sm:Weather',
    'sm:we_ather',
    'sm:we ather',
    'sm:wé',
    `sm:${'x'.repeat(33)}`,
    'mm ',
    ' mm',
    'sm:weather\n',
    'sm:a:b',
    'device\0',
  ];
  for (const s of bad) {
    assert.throws(
      () => parseInstance(s),
      (e: unknown) => e instanceof InvalidInstanceError && e.input === s && e.message.includes('invalid instance'),
      JSON.stringify(s),
    );
    assert.ok(!isInstance(s));
  }
  assert.throws(() => serviceInstance('Bad'), InvalidInstanceError);
});

test('isServiceInstance and serviceOf', () => {
  const sm: Instance = parseInstance('sm:weather');
  assert.ok(isServiceInstance(sm));
  assert.equal(serviceOf(sm), 'weather');
  assert.ok(!isServiceInstance('device'));
  assert.ok(!isServiceInstance('mm'));
  assert.equal(serviceOf('device'), undefined);
  assert.equal(serviceOf('mm'), undefined);
  const built = serviceInstance('pump-2');
  assert.equal(built, 'sm:pump-2');
  const name: string = serviceOf(built); // typed as string, not string | undefined, for a ServiceInstance
  assert.equal(name, 'pump-2');
});
