/**
 * Exposes the contract's commands and its event stream to the page as `window.loadout`, and
 * nothing else: never `ipcRenderer` itself (architecture convention 3). Bundled as one CommonJS
 * file, as a sandboxed preload must be.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { IpcRendererEvent } from 'electron';
import type { LoadoutBridge } from '../shared/contract';
import { IPC_EVENT, IPC_INVOKE, isCommandName } from '../shared/contract';
import type { CoreEvent } from '../shared/model';

const bridge: LoadoutBridge = {
  invoke: (name, ...args) => {
    // Only the contract's names reach the main process (which checks again): a page bug gets
    // an answer, not a silent no-op.
    if (!isCommandName(name)) {
      return Promise.resolve({ ok: false, error: { code: 'invalid', message: `unknown command ${JSON.stringify(name)}` } });
    }
    return ipcRenderer.invoke(IPC_INVOKE, name, args);
  },
  onEvent: (listener) => {
    if (typeof listener !== 'function') throw new TypeError('onEvent needs a function');
    // The IPC event object is not passed on: it carries `sender`, a way back into ipcRenderer.
    const wrapped = (_e: IpcRendererEvent, event: CoreEvent) => listener(event);
    ipcRenderer.on(IPC_EVENT, wrapped);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT, wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('loadout', bridge);
