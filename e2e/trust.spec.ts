/**
 * Smaller things a new user hit (issue 11, item 18): the API view's example, the page while
 * disconnected, the keyboard focus after Load, Esc on a streaming answer, a small window, the
 * chat picker's broken models and when an idle model will be unloaded.
 */
import type { Page } from '@playwright/test';
import { expect, faultModel, keepScreenshot, row, test } from './support/app';

test.use({
  appOptions: {
    configs: {
      // Sorted first, and broken: the API example must not name it.
      'aa-broken-with-a-long-name.yaml': 'name: aa-broken-with-a-long-name\nbackend: fault\nconcurrency_groups: [unclosed\n',
      'slow.yaml': faultModel('slow', { options: ['fault_token_ms:40', 'fault_tokens:400'] }),
      'steady.yaml': `${faultModel('steady')}ttl: 600\n`,
    },
  },
});

const chatView = (page: Page) => page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Chat' });

async function newChat(page: Page, model: string): Promise<void> {
  await chatView(page).click();
  await page.getByRole('button', { name: '+ New chat' }).first().click();
  await page.locator('.picker-button').click();
  await page.getByRole('listbox', { name: 'Models' }).getByRole('option', { name: new RegExp(`^${model}\\b`) }).click();
  await expect(page.locator('.picker-button .picker-name')).toHaveText(model);
}

test('the API example names a model that can load, and copies', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'API' }).click();
  const sample = page.getByTestId('api-sample');
  await expect(sample).toContainText('"model": "slow"');
  await expect(sample).not.toContainText('aa-broken');
  await page.getByRole('button', { name: 'Copy the example request' }).click();
  await expect(page.getByText('Copied')).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('/chat/completions');
  await keepScreenshot(page, 'api-sample');
});

test('Enter on Load keeps the focus on the button; a loaded model with an idle ttl says when it unloads', async ({ page }) => {
  const load = row(page, 'steady').getByRole('button', { name: 'Load' });
  await load.focus();
  await page.keyboard.press('Enter');
  await expect(row(page, 'steady')).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  // Same button, now Unload, still focused: Enter again unloads.
  await expect(row(page, 'steady').getByRole('button', { name: 'Unload' })).toBeFocused();
  await expect(row(page, 'steady').getByTestId('unloads-in')).toHaveText(/unloads in (10|9) min/);
  await keepScreenshot(page, 'models-unloads-in');
  await page.keyboard.press('Enter');
  await expect(row(page, 'steady')).toHaveAttribute('data-state', 'unloaded', { timeout: 15_000 });
  await expect(row(page, 'steady').getByRole('button', { name: 'Load' })).toBeFocused();
  await expect(row(page, 'steady').getByTestId('unloads-in')).toHaveCount(0);
});

test('Esc stops a streaming answer', async ({ page }) => {
  await newChat(page, 'slow');
  await page.getByRole('textbox', { name: 'Message' }).fill('Count slowly.');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('streaming')).toContainText('tok3', { timeout: 15_000 });
  await page.keyboard.press('Escape');
  await expect(page.locator('.msg-assistant:not(.msg-streaming)').last()).toHaveAttribute('data-finish', 'stopped');
});

test('the chat picker shows broken models by their whole name', async ({ page }) => {
  await chatView(page).click();
  await page.getByRole('button', { name: '+ New chat' }).first().click();
  await page.locator('.picker-button').click();
  const broken = page.getByRole('listbox', { name: 'Models' }).getByRole('option', { name: /^aa-broken/ });
  const name = broken.locator('.picker-name');
  // Its name is not cut: the text fits its box.
  const fits = await name.evaluate((el) => el.scrollWidth <= el.clientWidth + 1 && el.clientWidth > 100);
  await keepScreenshot(page, 'chat-picker-broken');
  expect(fits).toBe(true);
});

test('at 800x600 the model details keep their buttons on screen and the chat list collapses', async ({ page }) => {
  await page.setViewportSize({ width: 800, height: 600 });
  await row(page, 'steady').locator('.model-name').click();
  await expect(page.getByRole('complementary', { name: 'Details of steady' })).toBeVisible();
  // The row's actions stay on screen beside the details.
  for (const name of ['Load', 'Pin', 'Log']) await expect(row(page, 'steady').getByRole(name === 'Log' ? 'link' : 'button', { name, exact: true })).toBeInViewport({ ratio: 1 });
  await keepScreenshot(page, 'details-800x600');
  await chatView(page).click();
  await page.getByRole('button', { name: '+ New chat' }).click();
  await expect(page.locator('.chat-side')).toBeHidden();
  await page.getByRole('button', { name: 'Show the conversations' }).click();
  await expect(page.locator('.chat-side')).toBeVisible();
  await keepScreenshot(page, 'chat-800x600-list');
  await page.keyboard.press('Escape');
  await expect(page.locator('.chat-side')).toBeHidden();
  await keepScreenshot(page, 'chat-800x600');
});

test('while disconnected no model is shown loaded and the composer waits to reconnect', async ({ page, app }) => {
  expect((await app.call('load', 'steady')).ok).toBe(true);
  await newChat(page, 'steady');
  await expect(page.locator('.picker-button [data-testid="state"]')).toHaveText('Loaded');
  await page.getByRole('textbox', { name: 'Message' }).fill('Hello?');
  await app.stop();
  await expect(page.getByTestId('disconnected')).toBeVisible();
  await expect(page.locator('.picker-button [data-testid="state"]')).toHaveText('Unknown');
  await expect(page.getByRole('button', { name: 'Reconnecting…' })).toBeDisabled();
  await keepScreenshot(page, 'chat-disconnected');
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Models' }).click();
  await expect(row(page, 'steady').getByTestId('state')).toHaveText('Unknown');
  await expect(page.getByText('Loaded', { exact: true })).toHaveCount(0);
  await expect(page.locator('.summary')).toContainText('offline');
  await expect(page.getByRole('group', { name: 'Show' }).getByRole('button', { name: /^Loaded/ })).toHaveText('Loaded ?');
  await keepScreenshot(page, 'models-disconnected');
});

test("the conversation's settings show the model's defaults with their values", async ({ page }) => {
  await newChat(page, 'steady');
  await page.getByRole('button', { name: 'Settings' }).click();
  const panel = page.getByRole('form', { name: 'Conversation settings' });
  await expect(panel.getByLabel('Temperature')).toHaveAttribute('placeholder', 'model default (0.7)');
  await expect(panel.getByLabel('Top-p')).toHaveAttribute('placeholder', 'model default (0.95)');
  await keepScreenshot(page, 'chat-params-defaults');
});

test.describe('a setting given as a flag', () => {
  test.use({ appOptions: { args: ['--idle-timeout', '120'] } });

  test('is marked as set by the flag for this run, not shown as saved', async ({ page }) => {
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Settings' }).click();
    await expect(page.getByTestId('flag-idle_timeout')).toHaveText(/set by --idle-timeout for this run/);
    await expect(page.getByTestId('flag-max_active_models')).toHaveCount(0);
    await keepScreenshot(page, 'settings-flag');
    // Saved from the page, the value replaces the flag.
    await page.getByLabel('Idle timeout').fill('300');
    await page.getByRole('button', { name: 'Save 1 change' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Saved 1 setting' })).toBeVisible();
    await expect(page.getByTestId('flag-idle_timeout')).toHaveCount(0);
  });
});
