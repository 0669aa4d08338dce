import type { App, BrowserWindow } from 'electron';
import { describe, expect, it } from 'vitest';
import { FakeEmitter } from './fakes';
import { claimSingleInstance } from './singleInstance';

class FakeApp extends FakeEmitter {
  quits = 0;
  constructor(private readonly gotLock: boolean) {
    super();
  }
  requestSingleInstanceLock() {
    return this.gotLock;
  }
  quit() {
    this.quits++;
  }
}

function fakeWindow(minimized: boolean) {
  const calls: string[] = [];
  const win = {
    isMinimized: () => minimized,
    restore: () => void calls.push('restore'),
    show: () => void calls.push('show'),
    focus: () => void calls.push('focus'),
  };
  return { win: win as Pick<BrowserWindow, 'isMinimized' | 'restore' | 'show' | 'focus'>, calls };
}

const asApp = (a: FakeApp) => a as unknown as Pick<App, 'requestSingleInstanceLock' | 'on' | 'quit'>;

describe('single instance', () => {
  it('the second launch quits at once and registers nothing', () => {
    const app = new FakeApp(false);
    expect(claimSingleInstance(asApp(app), () => null)).toBe(false);
    expect(app.quits).toBe(1);
    expect(app.listenerCount('second-instance')).toBe(0);
  });

  it('the first one keeps running and shows its window when a second launch happens', () => {
    const app = new FakeApp(true);
    const { win, calls } = fakeWindow(false);
    expect(claimSingleInstance(asApp(app), () => win)).toBe(true);
    expect(app.quits).toBe(0);
    app.emit('second-instance', {}, ['loadout'], '/home/u');
    expect(calls).toEqual(['show', 'focus']);
  });

  it('a minimized window is restored first', () => {
    const app = new FakeApp(true);
    const { win, calls } = fakeWindow(true);
    claimSingleInstance(asApp(app), () => win);
    app.emit('second-instance');
    expect(calls).toEqual(['restore', 'show', 'focus']);
  });

  it('no window yet (still starting): a second launch is ignored, nothing throws', () => {
    const app = new FakeApp(true);
    claimSingleInstance(asApp(app), () => null);
    expect(() => app.emit('second-instance')).not.toThrow();
  });
});
