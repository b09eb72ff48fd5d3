/**
 * The pieces of broker-auth on their own: `$7$` hashes interoperate with mosquitto_passwd both ways,
 * the rendered acl_file is what the rule table says, the in-process authorizer agrees with it, and
 * credential files are secret.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACL_RULES,
  BrokerAuthorizer,
  hashPassword,
  newBrokerPassword,
  renderAclFile,
  renderPasswordFile,
  verifyPassword,
} from '../../actors/broker-auth/index.ts';
import { IH_ROLE, serviceHubRole } from '../../actors/hub/index.ts';
import { readBrokerCredentialFile, writeBrokerCredentialFile } from '../../actors/provisioning/index.ts';
import { tempDir } from '../hub/fixtures.ts';

describe('password hashes (Mosquitto 2.0 $7$, PBKDF2-SHA512)', () => {
  it('verifies what mosquitto_passwd writes, and the reverse format matches its shape', () => {
    const dir = tempDir('dominion-pw-');
    const file = join(dir, 'passwd');
    writeFileSync(file, '');
    const password = newBrokerPassword();
    execFileSync('mosquitto_passwd', ['-b', file, 'pi-0001', password]);
    const [user, hash] = readFileSync(file, 'utf8').trim().split(/:(.*)/s);
    assert.equal(user, 'pi-0001');
    assert.ok(verifyPassword(password, hash!), 'our verifier accepts mosquitto_passwd output');
    assert.ok(!verifyPassword(`${password}x`, hash!));
    const ours = hashPassword(password);
    const shape = /^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;
    assert.equal(shape.exec(ours)![1], shape.exec(hash!)![1], 'same iteration count as mosquitto_passwd');
    assert.equal(
      Buffer.from(shape.exec(ours)![2]!, 'base64').length,
      Buffer.from(shape.exec(hash!)![2]!, 'base64').length,
      'same salt size',
    );
    // Mosquitto itself accepting our hashes is tested end to end (acl.test.ts: devices connect).
  });

  it('a known vector: fixed salt, fixed output', () => {
    const h = hashPassword('secret', { salt: Buffer.from('r6VTpKrUhwFOkZMf', 'base64') });
    assert.equal(h, '$7$101$r6VTpKrUhwFOkZMf$twvDSWf9icXsBKfca6+MA4tHsXdBd7ryPUSBhHxPQYlnDTHOiZZsux4QKWCeI8E5GUdCdj5SP9p9a/cQmeyOgg==');
  });

  it('refuses malformed hashes without throwing, and the password file refuses them loudly', () => {
    assert.equal(verifyPassword('x', 'plain'), false);
    assert.equal(verifyPassword('x', '$7$99999999$AA==$AA=='), false);
    assert.throws(() => renderPasswordFile([{ principal: { kind: 'device', deviceId: 'd1' }, passwordHash: 'nope' }]), /not a \$7\$ hash/);
  });
});

describe('the rule table', () => {
  const ih = { kind: 'hub', hubId: 'ih-1', role: IH_ROLE } as const;
  const sh = { kind: 'hub', hubId: 'sh-sensor', role: serviceHubRole('sensor') } as const;

  it('every rule gives its reason', () => {
    for (const r of ACL_RULES) assert.ok(r.reason.length > 10, r.topic);
  });

  it('renders device rules once as %u patterns and one section per hub', () => {
    const acl = renderAclFile([sh, ih]);
    assert.match(acl, /^pattern write dominion\/v1\/hub\/\+\/request\/%u$/m);
    assert.match(acl, /^pattern read dominion\/v1\/device\/%u\/reply\/\+$/m);
    const ihSection = acl.slice(acl.indexOf('user hub@ih-1'), acl.indexOf('user hub@sh-sensor'));
    assert.match(ihSection, /^topic write dominion\/v1\/device\/\+\/reply\/image\.mm$/m);
    assert.match(ihSection, /^topic read dominion\/v1\/hub\/ih-1\/request\/\+$/m);
    assert.doesNotMatch(ihSection, /sm:sensor/);
    const shSection = acl.slice(acl.indexOf('user hub@sh-sensor'));
    assert.match(shSection, /^topic write dominion\/v1\/device\/\+\/reply\/sm:sensor$/m);
    assert.match(shSection, /^topic read dominion\/v1\/service\/sensor\/\+\/\+$/m);
    assert.doesNotMatch(shSection, /reply\/device$/m);
    assert.equal(acl, renderAclFile([ih, sh]), 'deterministic: same input, same file');
  });

  it('the in-process authorizer follows the same table', () => {
    const pw = newBrokerPassword();
    const a = new BrokerAuthorizer([
      { principal: { kind: 'device', deviceId: 'd1' }, passwordHash: hashPassword(pw) },
      { principal: ih, passwordHash: hashPassword(pw) },
    ]);
    assert.ok(a.authenticate('d1', pw));
    assert.ok(!a.authenticate('d1', 'nope'));
    assert.ok(!a.authenticate(undefined, undefined));
    assert.ok(a.mayPublish('d1', 'dominion/v1/hub/ih-1/request/d1'));
    assert.ok(!a.mayPublish('d1', 'dominion/v1/hub/ih-1/request/d2'));
    assert.ok(!a.mayPublish('d1', 'dominion/v1/hub/ih-1/request/+'));
    assert.ok(a.maySubscribe('d1', 'dominion/v1/device/d1/reply/+'));
    assert.ok(!a.maySubscribe('d1', 'dominion/v1/device/+/reply/+'));
    assert.ok(!a.maySubscribe('d1', 'dominion/v1/device/d1/#'));
    assert.ok(a.maySubscribe('hub@ih-1', '$share/ih-1/dominion/v1/hub/ih-1/request/+'));
    assert.ok(!a.maySubscribe('hub@ih-1', 'dominion/v1/hub/ih-2/request/+'));
    assert.ok(a.mayPublish('hub@ih-1', 'dominion/v1/device/d9/reply/boot'));
    assert.ok(!a.mayPublish('hub@ih-1', 'dominion/v1/device/d9/reply/sm:sensor'));
    assert.ok(a.mayPublish('hub@ih-1', 'dominion/v1/hub/ih-1/status/hub-ih-1-ab12'));
    assert.ok(a.maySubscribe('d1', 'dominion/v1/hub/+/status/#'));
  });
});

describe('credential files', () => {
  it('are written 0600, replaced atomically on rotation, and refused when others can read them', () => {
    const path = join(tempDir('dominion-cred-'), 'd1.broker.json');
    writeBrokerCredentialFile(path, { username: 'd1', password: newBrokerPassword() });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const next = newBrokerPassword();
    writeBrokerCredentialFile(path, { username: 'd1', password: next });
    assert.equal(readBrokerCredentialFile(path).password, next);
    execFileSync('chmod', ['644', path]);
    assert.throws(() => readBrokerCredentialFile(path), /must not be readable by group or others/);
  });
});
