/** File > Choose Models Folder... and the "open a folder" actions of the menu. */
import type { BaseWindow, Dialog, Shell } from 'electron';

export interface ChooseModelsFolderDeps {
  dialog: Pick<Dialog, 'showOpenDialog'>;
  window: BaseWindow | null;
  /** The current models folder: where the dialog opens. */
  current: string;
  /** Saves the new folder (the core's `updateSettings`); the catalog rescans from there. */
  update(patch: { models_dir: string }): Promise<unknown>;
  showError(title: string, message: string): void;
}

/** Asks for a folder; returns the one chosen and saved, or null if the user cancelled or it failed. */
export async function chooseModelsFolder(deps: ChooseModelsFolderDeps): Promise<string | null> {
  const options = {
    title: 'Choose the models folder',
    buttonLabel: 'Use This Folder',
    defaultPath: deps.current || undefined,
    properties: ['openDirectory', 'createDirectory'] as ('openDirectory' | 'createDirectory')[],
  };
  const result = deps.window ? await deps.dialog.showOpenDialog(deps.window, options) : await deps.dialog.showOpenDialog(options);
  const dir = result.filePaths[0];
  if (result.canceled || !dir) return null;
  try {
    await deps.update({ models_dir: dir });
    return dir;
  } catch (e) {
    deps.showError('Cannot use this models folder', `${dir}: ${(e as Error).message}\nThe models folder was not changed.`);
    return null;
  }
}

/** Opens a folder in the system's file manager; says so when it cannot. */
export async function openFolder(shell: Pick<Shell, 'openPath'>, dir: string, showError: (title: string, message: string) => void): Promise<void> {
  // openPath resolves with an error message, or '' on success.
  const error = await shell.openPath(dir);
  if (error) showError('Cannot open the folder', `${dir}: ${error}`);
}
