/** Engine 1 in the GUI: Settings > Backends names the llama-server a model with `backend: llama-server` would run. */
import { join } from 'node:path';
import { expect, openView, root, test } from './support/app';

const fake = join(root, 'test/fixtures/fakeLlamaServer.mjs');

test.describe('a llama-server is found', () => {
  test.use({ appOptions: { args: ['--llama-server-path', fake, '--gpu', 'cpu'] } });
  test('Settings > Backends shows its --version and devices, and calls a CPU build faster while the built-in engine runs on the CPU', async ({ page }) => {
    await openView(page, 'Settings');
    const note = page.getByTestId('llama-server-note');
    await expect(note).toContainText('version: 1 (fake)');
    await expect(note).toContainText(fake);
    await expect(note).toContainText('CPU only');
    await expect(note).toContainText('backend: llama-server');
    await expect(note).toContainText('the faster option');
  });
});

test.describe('no llama-server', () => {
  test.use({ appOptions: { args: ['--llama-server-path', '/nonexistent/llama-server'] } });
  test('Settings > Backends says why and how to get one, and offers nothing', async ({ page }) => {
    await openView(page, 'Settings');
    const note = page.getByTestId('llama-server-note');
    await expect(note).toContainText('not found');
    await expect(note).toContainText('llama_server_path');
    await expect(note).not.toContainText('faster');
  });
});
