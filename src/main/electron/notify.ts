/**
 * Telling the user something from the main process when there may be no window to show it in
 * (the tray, the global shortcut, close to tray): always logged, then an OS notification, or a
 * message box where the system has no notifications.
 */
import type { Dialog, Notification, NotificationConstructorOptions } from 'electron';

export interface NotifierDeps {
  Notification: { new (options: NotificationConstructorOptions): Pick<Notification, 'show' | 'on'>; isSupported(): boolean };
  dialog: Pick<Dialog, 'showMessageBox'>;
  log(message: string): void;
  /** The notification's icon (Linux, Windows); macOS uses the app's. */
  icon?: string;
}

export type Notify = (title: string, body: string, kind?: 'info' | 'error') => void;

export function createNotifier(d: NotifierDeps): Notify {
  // A notification that is garbage-collected before it shows may never show (Windows): keep a
  // reference until it closes.
  const live = new Set<object>();
  const box = (title: string, body: string, kind: 'info' | 'error') => {
    d.dialog.showMessageBox({ type: kind === 'error' ? 'error' : 'info', title, message: title, detail: body }).catch((e: unknown) => d.log(`could not show a message box: ${String(e)}`));
  };
  return (title, body, kind = 'info') => {
    d.log(`${title}: ${body}`);
    try {
      if (!d.Notification.isSupported()) {
        box(title, body, kind);
        return;
      }
      const n = new d.Notification({ title, body, ...(d.icon ? { icon: d.icon } : {}) });
      live.add(n);
      n.on('close', () => live.delete(n));
      n.on('failed', (_event, error) => {
        live.delete(n);
        d.log(`the notification could not be shown (${error}); showing a message box instead`);
        box(title, body, kind);
      });
      n.show();
    } catch (e) {
      d.log(`could not tell the user "${title}": ${e instanceof Error ? e.message : String(e)}`);
    }
  };
}
