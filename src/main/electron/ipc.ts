/** IPC registration, generic over the contract; the sender of every call is checked. */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import type { CommandHandlers } from '../../shared/contract';
import { IPC_EVENT, IPC_INVOKE } from '../../shared/contract';
import type { CoreEvent } from '../../shared/model';
import { dispatch } from '../core/handlers';

export type SenderCheck = (event: Pick<IpcMainInvokeEvent, 'senderFrame'>) => boolean;

/** Answers `IPC_INVOKE` with the contract's handlers, for trusted senders only. Returns an unregister. */
export function registerIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, handlers: CommandHandlers, isTrustedSender: SenderCheck): () => void {
  ipcMain.handle(IPC_INVOKE, (event, name: unknown, args: unknown) => {
    if (!isTrustedSender(event)) {
      return { ok: false, error: { code: 'forbidden', message: 'This window may not control Loadout.' } };
    }
    return dispatch(handlers, name, args);
  });
  return () => ipcMain.removeHandler(IPC_INVOKE);
}

/**
 * Trusts a call only from a frame showing one of our own pages; a frame that navigated away or
 * is gone (`senderFrame` null) is refused.
 */
export function trustedSender(isOwnUrl: (url: string) => boolean): SenderCheck {
  return (event) => {
    const frame = event.senderFrame;
    return !!frame && isOwnUrl(frame.url);
  };
}

/** Sends every core event to the window's page while it exists. Returns an unsubscribe. */
export function forwardEvents(
  subscribe: (listener: (event: CoreEvent) => void) => () => void,
  target: () => Pick<WebContents, 'send' | 'isDestroyed'> | null,
): () => void {
  return subscribe((event) => {
    const contents = target();
    if (contents && !contents.isDestroyed()) contents.send(IPC_EVENT, event);
  });
}
