/** Plan before acting: group conflicts, pinning, and edits in the form that change what conflicts. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, faultModel, keepScreenshot, row, test, openView } from './support/app';

const loadNow = async (page: import('@playwright/test').Page, model: string) => {
  await row(page, model).getByRole('button', { name: 'Load' }).click();
  await expect(row(page, model)).toHaveAttribute('data-state', 'ready');
};

test.describe('groups', () => {
  test.use({
    appOptions: {
      configs: {
        'big-a.yaml': faultModel('big-a', { groups: ['gpu-heavy'] }),
        'big-b.yaml': faultModel('big-b', { groups: ['gpu-heavy', 'fast'] }),
        'small.yaml': faultModel('small', { groups: ['fast'] }),
      },
    },
  });

  test('L4/E3: the plan names the model a group conflict will unload; confirming loads and unloads it; Cancel changes nothing', async ({ page }) => {
    await loadNow(page, 'big-a');
    await row(page, 'big-b').getByRole('button', { name: 'Load' }).click();
    const dialog = page.getByRole('dialog', { name: 'Load big-b?' });
    await expect(dialog).toBeVisible();
    await expect(dialog.locator('[data-unload="big-a"]')).toContainText('shares a group');
    await expect(dialog.locator('[data-unload="big-a"]')).toContainText('gpu-heavy');
    await keepScreenshot(page, 'plan-dialog');
    // Cancel: nothing happens.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toHaveCount(0);
    await expect(row(page, 'big-a')).toHaveAttribute('data-state', 'ready');
    await expect(row(page, 'big-b')).toHaveAttribute('data-state', 'unloaded');

    await openView(page, 'Groups');
    await expect(page.locator('[data-group="gpu-heavy"] li.resident')).toHaveAttribute('data-model', 'big-a');
    await expect(page.locator('[data-group="gpu-heavy"]')).toContainText('Loading big-b unloads big-a first.');
    await keepScreenshot(page, 'groups');

    await openView(page, 'Models');
    await row(page, 'big-b').getByRole('button', { name: 'Load' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Unload 1 and load' }).click();
    await expect(row(page, 'big-b')).toHaveAttribute('data-state', 'ready');
    await expect(row(page, 'big-a')).toHaveAttribute('data-state', 'unloaded');

    await openView(page, 'Activity');
    const entry = page.locator('tr[data-model="big-a"]');
    await expect(entry).toHaveAttribute('data-reason', 'group');
    await expect(entry).toContainText('gpu-heavy');
    await expect(entry).toContainText('for big-b');
    await keepScreenshot(page, 'activity');
    // Filter by model.
    await page.getByLabel('Show the activity of one model').selectOption('big-b');
    await expect(page).toHaveURL(/#\/activity\/big-b$/);
    await expect(page.locator('tr[data-model="big-a"]')).toHaveCount(1); // caused by big-b
    await page.getByLabel('Show the activity of one model').selectOption('small');
    await expect(page.getByText('Nothing has happened to small yet')).toBeVisible();
  });

  test('L5: a pinned conflict blocks the load before anything happens, and says why', async ({ page }) => {
    await loadNow(page, 'small');
    await row(page, 'small').getByRole('button', { name: 'Pin' }).click();
    await expect(row(page, 'small')).toHaveAttribute('data-pinned', 'true');
    await row(page, 'big-b').getByRole('button', { name: 'Load' }).click();
    const dialog = page.getByRole('dialog', { name: "big-b can't be loaded now" });
    await expect(dialog.getByTestId('plan-failure')).toContainText('small');
    await expect(dialog.getByTestId('plan-failure')).toContainText('pinned');
    await expect(dialog.getByRole('button', { name: /load/i })).toHaveCount(0);
    await keepScreenshot(page, 'plan-blocked');
    await page.keyboard.press('Escape');
    await expect(dialog).toHaveCount(0);
    await expect(row(page, 'small')).toHaveAttribute('data-state', 'ready');
    await expect(row(page, 'big-b')).toHaveAttribute('data-state', 'unloaded');
  });

  test('C6: editing groups in the form writes the YAML and changes what conflicts', async ({ page, app }) => {
    await loadNow(page, 'small');
    // big-a does not conflict with small: it loads without a plan dialog... after the edit it would.
    await row(page, 'big-a').getByRole('link', { name: 'big-a' }).click();
    const form = page.getByRole('form', { name: 'Settings of big-a' });
    await form.getByLabel('Concurrency groups').fill('gpu-heavy, fast');
    await form.getByRole('button', { name: 'Save' }).click();
    await expect(form.getByRole('status')).toContainText('Saved to');
    await expect(row(page, 'big-a').locator('.chip')).toHaveText(['gpu-heavy', 'fast']);
    expect(readFileSync(join(app.modelsDir, 'big-a.yaml'), 'utf8')).toMatch(/concurrency_groups:.*fast/s);
    await expect(page.getByRole('complementary', { name: 'Details of big-a' })).toContainText('big-b, small');
    await keepScreenshot(page, 'edit-form');

    await row(page, 'big-a').getByRole('button', { name: 'Load' }).click();
    await expect(page.getByRole('dialog').locator('[data-unload="small"]')).toContainText('fast');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

    // A bad value is refused in the form, in words.
    await form.getByLabel('Parallel slots').fill('zero');
    await form.getByRole('button', { name: 'Save' }).click();
    await expect(form.getByRole('alert')).toContainText('Parallel slots must be a whole number');
  });

  test('Trust 10: the Groups view says what the loader would do: a pinned member is never said to be unloaded', async ({ page }) => {
    await loadNow(page, 'big-a');
    await row(page, 'big-a').getByRole('button', { name: 'Pin' }).click();
    await expect(row(page, 'big-a')).toHaveAttribute('data-pinned', 'true');
    await openView(page, 'Groups');
    const card = page.locator('[data-group="gpu-heavy"]');
    await expect(card.getByTestId('group-plan')).toContainText('big-b cannot load now');
    await expect(card.getByTestId('group-plan')).toContainText('pinned');
    await expect(card).not.toContainText('unloads big-a');
  });
});

test.describe('pinning and the cap', () => {
  test.use({
    appOptions: { configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b'), 'c.yaml': faultModel('c') }, args: ['--max-active', '2'] },
  });

  test('L6: pinning prevents eviction: the plan passes over the pinned least recently used model, and the load keeps it', async ({ page }) => {
    await loadNow(page, 'a');
    await loadNow(page, 'b');
    await row(page, 'a').getByRole('button', { name: 'Pin' }).click();
    await expect(row(page, 'a')).toHaveAttribute('data-pinned', 'true');
    await row(page, 'c').getByRole('button', { name: 'Load' }).click();
    const dialog = page.getByRole('dialog', { name: 'Load c?' });
    await expect(dialog.locator('[data-unload]')).toHaveCount(1);
    await expect(dialog.locator('[data-unload="b"]')).toContainText('least recently used');
    await dialog.getByRole('button', { name: 'Unload 1 and load' }).click();
    await expect(row(page, 'c')).toHaveAttribute('data-state', 'ready');
    await expect(row(page, 'b')).toHaveAttribute('data-state', 'unloaded');
    await expect(row(page, 'a')).toHaveAttribute('data-state', 'ready');

    // With both slots held by a pinned and a now-pinned model, a load is blocked up front.
    await row(page, 'c').getByRole('button', { name: 'Pin' }).click();
    await expect(row(page, 'c')).toHaveAttribute('data-pinned', 'true');
    await row(page, 'b').getByRole('button', { name: 'Load' }).click();
    await expect(page.getByRole('dialog').getByTestId('plan-failure')).toContainText('pinned');
  });

  test('W4: lowering max active models in Settings unloads the surplus, least recently used first', async ({ page }) => {
    await loadNow(page, 'a');
    await loadNow(page, 'b');
    await openView(page, 'Settings');
    await keepScreenshot(page, 'settings');
    const field = page.getByLabel('Max active models');
    await expect(field).toHaveValue('2');
    await field.fill('1');
    await page.getByRole('button', { name: 'Save 1 change' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Saved 1 setting' })).toBeVisible();
    await openView(page, 'Models');
    await expect(row(page, 'a')).toHaveAttribute('data-state', 'unloaded');
    await expect(row(page, 'b')).toHaveAttribute('data-state', 'ready');
    await expect(page.locator('.summary')).toContainText('1 of 1 slots');
    await openView(page, 'Activity');
    await expect(page.locator('tr[data-model="a"]')).toHaveAttribute('data-reason', 'settings');

    // A bad value is refused before anything is sent, next to its field.
    await openView(page, 'Settings');
    await page.getByLabel('Max active models').fill('-3');
    await page.getByRole('button', { name: 'Save 1 change' }).click();
    await expect(page.locator('.setting.invalid')).toContainText('Max active models must be a whole number');
    // The error describes the old value: editing the field clears it.
    await page.getByLabel('Max active models').fill('2');
    await expect(page.locator('.setting.invalid')).toHaveCount(0);
  });
});
