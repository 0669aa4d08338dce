/** Exposes the contract's commands and its event stream to the page, and nothing else. */
import { contextBridge, ipcRenderer } from 'electron';
import type { IpcRendererEvent } from 'electron';
import type { LoadoutBridge } from '../shared/contract';
import { IPC_EVENT, IPC_INVOKE } from '../shared/contract';
import type { CoreEvent } from '../shared/model';

const bridge: LoadoutBridge = {
  invoke: (name, ...args) => ipcRenderer.invoke(IPC_INVOKE, name, args),
  onEvent: (listener) => {
    const wrapped = (_e: IpcRendererEvent, event: CoreEvent) => listener(event);
    ipcRenderer.on(IPC_EVENT, wrapped);
    return () => ipcRenderer.removeListener(IPC_EVENT, wrapped);
  },
};

contextBridge.exposeInMainWorld('loadout', bridge);
