/** IPC registration, generic over the contract; the sender of every call is checked. */
import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import type { CommandHandlers } from '../../shared/contract';
import { IPC_INVOKE } from '../../shared/contract';
import { dispatch } from '../core/handlers';

export function registerIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, handlers: CommandHandlers, isTrustedSender: (event: IpcMainInvokeEvent) => boolean): () => void {
  ipcMain.handle(IPC_INVOKE, (event, name: unknown, args: unknown) => {
    if (!isTrustedSender(event)) {
      return { ok: false, error: { code: 'forbidden', message: 'This window may not control Loadout.' } };
    }
    return dispatch(handlers, name, args);
  });
  return () => ipcMain.removeHandler(IPC_INVOKE);
}
