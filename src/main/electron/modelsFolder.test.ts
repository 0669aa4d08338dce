import type { BaseWindow, Dialog, OpenDialogOptions, OpenDialogReturnValue, Shell } from 'electron';
import { describe, expect, it } from 'vitest';
import { LoadoutError } from '../../shared/errors';
import { chooseModelsFolder, openFolder } from './modelsFolder';

function fakeDialog(answer: OpenDialogReturnValue) {
  const calls: { parent: unknown; options: OpenDialogOptions }[] = [];
  const dialog = {
    showOpenDialog: async (a: unknown, b?: OpenDialogOptions) => {
      calls.push(b ? { parent: a, options: b } : { parent: null, options: a as OpenDialogOptions });
      return answer;
    },
  };
  return { dialog: dialog as unknown as Pick<Dialog, 'showOpenDialog'>, calls };
}

function deps(answer: OpenDialogReturnValue, update: (p: { models_dir: string }) => Promise<unknown> = async () => {}) {
  const { dialog, calls } = fakeDialog(answer);
  const updates: unknown[] = [];
  const errors: string[] = [];
  const window = { id: 1 } as unknown as BaseWindow;
  return {
    calls,
    updates,
    errors,
    deps: {
      dialog,
      window,
      current: '/home/u/models',
      update: async (p: { models_dir: string }) => {
        updates.push(p);
        return update(p);
      },
      showError: (title: string, message: string) => void errors.push(`${title}: ${message}`),
    },
  };
}

describe('choosing the models folder', () => {
  it('asks for a folder (parented to the window, opening at the current one) and saves it as models_dir', async () => {
    const t = deps({ canceled: false, filePaths: ['/data/gguf'] });
    expect(await chooseModelsFolder(t.deps)).toBe('/data/gguf');
    expect(t.calls).toEqual([
      {
        parent: t.deps.window,
        options: { title: 'Choose the models folder', buttonLabel: 'Use This Folder', defaultPath: '/home/u/models', properties: ['openDirectory', 'createDirectory'] },
      },
    ]);
    expect(t.updates).toEqual([{ models_dir: '/data/gguf' }]);
  });

  it('cancel changes nothing', async () => {
    const t = deps({ canceled: true, filePaths: [] });
    expect(await chooseModelsFolder(t.deps)).toBeNull();
    expect(t.updates).toEqual([]);
    expect(t.errors).toEqual([]);
  });

  it('without a window the dialog is free-standing', async () => {
    const t = deps({ canceled: false, filePaths: ['/m'] });
    await chooseModelsFolder({ ...t.deps, window: null });
    expect(t.calls[0].parent).toBeNull();
  });

  it('a folder the core refuses is reported to the user and nothing changes', async () => {
    const t = deps({ canceled: false, filePaths: ['/proc'] }, async () => {
      throw new LoadoutError('invalid', 'cannot watch /proc');
    });
    expect(await chooseModelsFolder(t.deps)).toBeNull();
    expect(t.errors).toEqual(['Cannot use this models folder: /proc: cannot watch /proc\nThe models folder was not changed.']);
  });
});

describe('opening a folder', () => {
  it('opens it with the system file manager; a failure is shown', async () => {
    const opened: string[] = [];
    const errors: string[] = [];
    const shell = { openPath: async (p: string) => (opened.push(p), p === '/gone' ? 'Failed to open path' : '') } as Pick<Shell, 'openPath'>;
    await openFolder(shell, '/home/u/models', (t, m) => errors.push(`${t}: ${m}`));
    await openFolder(shell, '/gone', (t, m) => errors.push(`${t}: ${m}`));
    expect(opened).toEqual(['/home/u/models', '/gone']);
    expect(errors).toEqual(['Cannot open the folder: /gone: Failed to open path']);
  });
});
