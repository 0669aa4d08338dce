import type { NotificationConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { FakeEmitter } from './fakes';
import { createNotifier } from './notify';
import type { NotifierDeps } from './notify';

function setup(supported: boolean, opts: { throwOnShow?: boolean } = {}) {
  const shown: NotificationConstructorOptions[] = [];
  const instances: FakeEmitter[] = [];
  const boxes: unknown[] = [];
  const logs: string[] = [];
  class FakeNotification extends FakeEmitter {
    static isSupported = () => supported;
    constructor(readonly options: NotificationConstructorOptions) {
      super();
      instances.push(this);
    }
    show() {
      if (opts.throwOnShow) throw new Error('no notification daemon');
      shown.push(this.options);
    }
  }
  const notify = createNotifier({
    Notification: FakeNotification as unknown as NotifierDeps['Notification'],
    dialog: { showMessageBox: async (o: unknown) => (boxes.push(o), { response: 0, checkboxChecked: false }) } as unknown as NotifierDeps['dialog'],
    log: (m) => void logs.push(m),
    icon: '/icons/256x256.png',
  });
  return { notify, shown, instances, boxes, logs };
}

describe('telling the user from the main process', () => {
  it('logs, then shows a notification where the system has them', () => {
    const t = setup(true);
    t.notify('Chat shortcut not set', 'It is taken.');
    expect(t.logs).toEqual(['Chat shortcut not set: It is taken.']);
    expect(t.shown).toEqual([{ title: 'Chat shortcut not set', body: 'It is taken.', icon: '/icons/256x256.png' }]);
    expect(t.boxes).toEqual([]);
  });

  it('a message box where there are no notifications, or when one fails to show (Windows)', async () => {
    const t = setup(false);
    t.notify('Could not load m', 'Not enough memory.', 'error');
    expect(t.boxes).toEqual([{ type: 'error', title: 'Could not load m', message: 'Could not load m', detail: 'Not enough memory.' }]);
    const u = setup(true);
    u.notify('Loadout is still running', 'In the tray.');
    u.instances[0].emit('failed', {}, 'toast failed');
    expect(u.boxes).toEqual([{ type: 'info', title: 'Loadout is still running', message: 'Loadout is still running', detail: 'In the tray.' }]);
  });

  it('never throws', () => {
    const t = setup(true, { throwOnShow: true });
    expect(() => t.notify('x', 'y')).not.toThrow();
    expect(t.logs).toEqual(['x: y', 'could not tell the user "x": no notification daemon']);
  });
});
