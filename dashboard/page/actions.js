// @ts-check
/**
 * The device view's operator actions: quarantine, release, revoke (confirmed in the page first),
 * require-update. Each carries the operator token; the server's refusal (401/403) is shown as it
 * said it, and nothing changes on the page unless the server answered with the changed device.
 */
import { act } from './api.js';
import { h, replace } from './dom.js';
import { describe } from './fleet.js';

/** @typedef {import('./api.js').Device} Device */
/** @typedef {import('./api.js').Action} Action */

/**
 * @param {Device} device
 * @param {(d: Device) => void} onChanged called with the device as the server returned it
 */
export function actionPanel(device, onChanged) {
  const id = device.deviceId;
  const result = h('p', { id: 'action-result', class: 'action-result', role: 'status', 'aria-live': 'polite' });
  const reason = h('input', { type: 'text', id: 'action-reason', maxlength: 200, placeholder: 'reason (optional, audited)' });
  const instance = h(
    'select',
    { id: 'update-instance', 'aria-label': 'instance' },
    device.instances.map((i) => h('option', { value: i.instance }, i.instance)),
  );
  const release = h('input', { type: 'number', id: 'update-release', min: 1, step: 1, placeholder: 'release', 'aria-label': 'release' });
  /** @type {HTMLButtonElement[]} */
  const buttons = [];

  /**
   * @param {Action} action
   * @param {Record<string, unknown>} body
   * @param {string} done
   */
  const run = async (action, body, done) => {
    for (const b of buttons) b.disabled = true;
    result.className = 'action-result pending';
    replace(result, `${action}…`);
    try {
      const changed = await act(id, action, body);
      result.className = 'action-result ok';
      replace(result, done);
      onChanged(changed);
    } catch (e) {
      result.className = 'action-result error';
      result.setAttribute('role', 'alert');
      replace(result, `${action} refused: ${describe(e)}`);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  };
  const withReason = () => (reason.value.trim() === '' ? {} : { reason: reason.value.trim() });

  /**
   * @param {string} label
   * @param {string} cls
   * @param {() => void} onclick
   */
  const button = (label, cls, onclick) => {
    const b = h(
      'button',
      { type: 'button', class: `action ${cls}`, 'data-action': label.toLowerCase().replace(/ /g, '-'), onclick },
      label,
    );
    buttons.push(b);
    return b;
  };

  const confirmBox = h('div', {
    class: 'confirm',
    id: 'confirm-revoke',
    hidden: true,
    role: 'alertdialog',
    'aria-label': 'confirm revoke',
  });
  replace(
    confirmBox,
    h('span', {}, 'Revoke ', h('strong', {}, id), ' for good? Only enrolling it again with new keys brings it back.'),
    h(
      'button',
      {
        type: 'button',
        class: 'action danger',
        'data-action': 'confirm-revoke',
        onclick: () => {
          confirmBox.hidden = true;
          void run('revoke', withReason(), 'revoked');
        },
      },
      'Revoke for good',
    ),
    h('button', { type: 'button', class: 'action', 'data-action': 'cancel-revoke', onclick: () => (confirmBox.hidden = true) }, 'Cancel'),
  );

  return h(
    'section',
    { class: 'actions', 'aria-label': 'operator actions' },
    h('h3', {}, 'Actions'),
    h(
      'div',
      { class: 'action-row' },
      reason,
      button(
        'Quarantine',
        'warn',
        () => void run('quarantine', withReason(), 'quarantined: the device is reset and held in recovery mode'),
      ),
      button('Release', '', () => void run('release', withReason(), 'released: the next boot is granted')),
      button('Revoke', 'danger', () => (confirmBox.hidden = false)),
    ),
    confirmBox,
    h(
      'div',
      { class: 'action-row' },
      instance,
      release,
      button('Require update', '', () => {
        const n = Number(release.value);
        if (!Number.isInteger(n) || n < 1) {
          result.className = 'action-result error';
          replace(result, 'require-update: give a release number (an integer ≥ 1)');
          return;
        }
        void run('require-update', { instance: instance.value, release: n }, `update to release ${n} required of ${instance.value}`);
      }),
      button(
        'Clear update',
        '',
        () => void run('require-update', { clear: true, instance: instance.value }, `update requirement cleared for ${instance.value}`),
      ),
    ),
    result,
  );
}
