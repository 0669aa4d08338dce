import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES, IPC_EVENT, IPC_INVOKE } from '../../shared/contract';
import type { CommandHandlers } from '../../shared/contract';
import { LoadoutError } from '../../shared/errors';
import type { CoreEvent } from '../../shared/model';
import { Emitter } from '../core/emitter';
import { forwardEvents, registerIpc, trustedSender } from './ipc';
import { isOwnPage } from './window';

const PAGE = 'file:///opt/Loadout/resources/app.asar/out/renderer/index.html';

class FakeIpcMain {
  handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  handle(channel: string, listener: (event: unknown, ...args: unknown[]) => unknown): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** What a renderer's `ipcRenderer.invoke(IPC_INVOKE, name, args)` gets back from a frame at `url`. */
  invoke(url: string | null, name: unknown, args: unknown): Promise<unknown> {
    const event = { senderFrame: url === null ? null : { url } };
    return Promise.resolve(this.handlers.get(IPC_INVOKE)!(event, name, args));
  }
}

/** Every contract command, each recording its call; `load` fails the way the core fails. */
function recordingHandlers(calls: string[]): CommandHandlers {
  const h: Record<string, (...args: unknown[]) => unknown> = {};
  for (const name of COMMAND_NAMES) h[name] = (...args: unknown[]) => (calls.push(`${name}(${JSON.stringify(args)})`), `${name} done`);
  h.load = (name) => {
    throw new LoadoutError('not_found', `There is no model named "${name}".`);
  };
  return h as unknown as CommandHandlers;
}

function setup() {
  const ipc = new FakeIpcMain();
  const calls: string[] = [];
  const unregister = registerIpc(ipc as unknown as Pick<IpcMain, 'handle' | 'removeHandler'>, recordingHandlers(calls), trustedSender((u) => isOwnPage(u, PAGE)));
  return { ipc, calls, unregister };
}

describe('IPC registration', () => {
  it('answers a command from our own page with an Outcome', async () => {
    const { ipc, calls } = setup();
    expect(await ipc.invoke(PAGE, 'pin', ['demo', true])).toEqual({ ok: true, value: 'pin done' });
    expect(calls).toEqual(['pin(["demo",true])']);
  });

  it('errors cross as data with their code and message', async () => {
    const { ipc } = setup();
    expect(await ipc.invoke(PAGE, 'load', ['nope'])).toEqual({ ok: false, error: { code: 'not_found', message: 'There is no model named "nope".' } });
  });

  it('refuses a sender frame that is not our page, or is gone, before running anything', async () => {
    const { ipc, calls } = setup();
    for (const url of ['https://evil.example/', 'file:///tmp/other.html', null]) {
      expect(await ipc.invoke(url, 'unload', ['demo'])).toEqual({ ok: false, error: { code: 'forbidden', message: 'This window may not control Loadout.' } });
    }
    expect(calls).toEqual([]);
  });

  it('refuses unknown command names and arguments that are not a list', async () => {
    const { ipc, calls } = setup();
    expect(await ipc.invoke(PAGE, 'constructor', [])).toMatchObject({ ok: false, error: { code: 'invalid' } });
    expect(await ipc.invoke(PAGE, '__proto__', [])).toMatchObject({ ok: false, error: { code: 'invalid' } });
    expect(await ipc.invoke(PAGE, 'load', 'demo')).toMatchObject({ ok: false, error: { code: 'invalid', message: 'arguments of load must be a list' } });
    expect(calls).toEqual([]);
  });

  it('registers one handler and unregisters it', () => {
    const { ipc, unregister } = setup();
    expect([...ipc.handlers.keys()]).toEqual([IPC_INVOKE]);
    unregister();
    expect(ipc.handlers.size).toBe(0);
  });

  it('the sender check takes the real event shape', () => {
    const check = trustedSender((u) => isOwnPage(u, PAGE));
    expect(check({ senderFrame: { url: PAGE } } as unknown as IpcMainInvokeEvent)).toBe(true);
  });
});

describe('event forwarding', () => {
  it('sends each core event on IPC_EVENT while the window lives; nothing after it is gone or unsubscribed', () => {
    const events = new Emitter<CoreEvent>();
    const sent: unknown[][] = [];
    let destroyed = false;
    let contents: Pick<WebContents, 'send' | 'isDestroyed'> | null = { send: (...args: unknown[]) => void sent.push(args), isDestroyed: () => destroyed };
    const stop = forwardEvents((l) => events.on(l), () => contents);
    const e1: CoreEvent = { type: 'removed', name: 'a' };
    events.emit(e1);
    destroyed = true;
    events.emit({ type: 'removed', name: 'b' });
    contents = null;
    events.emit({ type: 'removed', name: 'c' });
    stop();
    expect(events.size).toBe(0);
    expect(sent).toEqual([[IPC_EVENT, e1]]);
  });
});
