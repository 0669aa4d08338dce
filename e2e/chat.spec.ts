/**
 * The chat (issue 4) in Chromium against the real headless app: streaming from a generated GGUF,
 * stop, history across restarts (and a torn last line), a model that was evicted, a backend crash
 * mid-answer, Markdown from a model rendered safely, the chat window picking up an answer
 * mid-stream, list/rename/search/export/delete, a long conversation, and the screenshot.
 */
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base } from '@playwright/test';
import type { Page } from '@playwright/test';
import type { ChatMessage } from '../src/shared/chat';
import { DEFAULT_CHAT_PARAMS } from '../src/shared/chat';
import { expect, faultModel, keepScreenshot, readmeScreenshot, startApp, tempRoot, test } from './support/app';

/** Opens the chat view, starts a conversation and picks its model. */
async function newChat(page: Page, model: string): Promise<string> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Chat' }).click();
  await page.getByRole('button', { name: '+ New chat' }).first().click();
  await expect(page).toHaveURL(/#\/chat\/[a-z0-9-]+$/);
  await pickModel(page, model);
  return decodeURIComponent(page.url().split('#/chat/')[1]);
}

async function pickModel(page: Page, model: string): Promise<void> {
  await page.locator('.picker-button').click();
  await page.getByRole('listbox', { name: 'Models' }).getByRole('option', { name: new RegExp(`^${model}\\b`) }).click();
  await expect(page.locator('.picker-button .picker-name')).toHaveText(model);
}

async function sendText(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

const answers = (page: Page) => page.locator('.msg-assistant:not(.msg-streaming)');
const lastAnswer = (page: Page) => answers(page).last();
const streaming = (page: Page) => page.getByTestId('streaming');

/** Records every new text of the streaming answer in the DOM (to see it grow, not just land). */
async function watchStreaming(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __stream: string[] };
    w.__stream = [];
    new MutationObserver(() => {
      const text = document.querySelector('[data-testid="streaming"]')?.textContent ?? null;
      if (text !== null && text !== w.__stream.at(-1)) w.__stream.push(text);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}
const streamTexts = (page: Page) => page.evaluate(() => (window as unknown as { __stream: string[] }).__stream);

/** A conversation file in the core's format (src/main/core/chats/chatStore.ts): a meta line, then one line per message. */
function writeConversation(dataDir: string, id: string, title: string, model: string, messages: ChatMessage[], createdAt = '2025-05-01T09:00:00.000Z'): string {
  const dir = join(dataDir, 'chats');
  mkdirSync(dir, { recursive: true });
  const lines = [{ type: 'meta', v: 1, id, title, model, params: DEFAULT_CHAT_PARAMS, createdAt }, ...messages.map((message) => ({ type: 'message', message }))];
  const file = join(dir, `${id}.jsonl`);
  writeFileSync(file, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  return file;
}

test.describe('a generated GGUF on the built-in llama backend', () => {
  test.use({ appOptions: { ggufs: { 'tiny-chat': 7 } } });

  test('issue 4: chat with a generated model; tokens stream into the page; the answer has its stats', async ({ page }) => {
    await page.goto(`${page.url().split('#')[0]}#/chat`);
    await expect(page.getByText('No conversations yet — start one')).toBeVisible();
    await newChat(page, 'tiny-chat');
    // Enough tokens for the answer to span many frames; temperature 0 and a seed make it repeatable.
    await page.getByRole('button', { name: 'Settings' }).click();
    await expect(page.getByLabel('Temperature')).toHaveAttribute('placeholder', 'model default (0.7)');
    await page.getByLabel('Temperature').fill('0');
    await page.getByLabel('Max tokens').fill('400');
    await page.getByLabel('Seed').fill('1');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
    await page.getByRole('button', { name: 'Close' }).click();

    await watchStreaming(page);
    await sendText(page, 'Tell me a story.');
    await expect(page.locator('.msg-user').last()).toContainText('Tell me a story.');
    const answer = lastAnswer(page);
    await expect(answer).toHaveAttribute('data-finish', /stop|length/, { timeout: 30_000 });
    const texts = await streamTexts(page);
    // Several updates of the same message while it streamed, each longer than the one before.
    expect(texts.length).toBeGreaterThan(3);
    for (let i = 1; i < texts.length; i++) expect(texts[i].length).toBeGreaterThanOrEqual(texts[i - 1].length);
    await expect(answer.getByTestId('stats')).toContainText(/tiny-chat · \d+ tokens · first token [\d.]+ s · [\d.]+ tokens\/s/);
    expect((await answer.locator('.md').textContent())!.length).toBeGreaterThan(texts[0].length);
    // The streaming answer's Markdown was parsed off the page's thread: the page's policy lets the worker run (issue 10).
    expect(page.workers().map((w) => w.url())).toContainEqual(expect.stringMatching(/\/assets\/markdown\.worker-[\w-]+\.js$/));
    // The conversation got its title from the first message.
    await expect(page.locator('.conv-item.current .conv-title')).toHaveText('Tell me a story.');

    // Regenerate replaces the last answer with a new one.
    const before = await answer.getAttribute('data-id');
    await answer.getByRole('button', { name: 'Regenerate' }).click();
    await expect(lastAnswer(page)).not.toHaveAttribute('data-id', before!, { timeout: 30_000 });
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', /stop|length/, { timeout: 30_000 });
    await expect(answers(page)).toHaveCount(1);
  });
});

test.describe('fault-backend models', () => {
  test.use({
    appOptions: {
      configs: {
        'slow.yaml': faultModel('slow', { options: ['fault_token_ms:40', 'fault_tokens:400'] }),
        'crashy.yaml': faultModel('crashy', { options: ['fault_token_ms:20', 'fault_stream_crash_after:6'] }),
        'echo.yaml': faultModel('echo', { options: ['fault_echo_request:1'] }),
        'steady.yaml': faultModel('steady', { options: ['fault_tokens:8'] }),
        // Listed last in the model picker, where it can't be picked: End must stop on steady.
        'zz-broken.yaml': 'name: zz-broken\nbackend: fault\nconcurrency_groups: [unclosed\n',
      },
    },
  });

  test('R3: stop mid-stream ends the answer at once and keeps the partial text, marked "stopped"', async ({ page }) => {
    await newChat(page, 'slow');
    await sendText(page, 'Count for me.');
    await expect(streaming(page)).toContainText('tok5', { timeout: 15_000 });
    const stop = page.getByRole('button', { name: 'Stop' });
    const t0 = Date.now();
    await stop.click();
    const answer = lastAnswer(page);
    await expect(answer).toHaveAttribute('data-finish', 'stopped');
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(answer.getByTestId('stats')).toContainText('stopped');
    const text = (await answer.locator('.md').textContent())!;
    expect(text).toMatch(/^tok0 tok1 tok2 tok3 tok4 tok5/);
    expect(text).not.toContain('tok399');
    // The composer is back to Send, and the next message works.
    await expect(page.getByRole('button', { name: 'Send' })).toBeVisible();
  });

  test('a backend crash mid-answer keeps the partial answer and shows the error under it', async ({ page }) => {
    await newChat(page, 'crashy');
    await sendText(page, 'Go.');
    const answer = lastAnswer(page);
    await expect(answer).toHaveAttribute('data-finish', 'error', { timeout: 15_000 });
    await expect(answer.locator('.md')).toHaveText('tok0 tok1 tok2 tok3 tok4 tok5');
    await expect(answer.getByTestId('message-error')).toContainText('The answer stopped:');
    await expect(answer.getByTestId('message-error')).not.toHaveText('The answer stopped: ');
    await keepScreenshot(page, 'chat-crash');
  });

  test('Markdown from a model renders as formatting; its HTML and javascript: links do not run', async ({ page }) => {
    await newChat(page, 'echo');
    // The echo backend answers with the request it got, so the model "writes" our text back.
    await sendText(page, 'Say **bold** and `code` <img src=x onerror="window.__pwned=1"> [click](javascript:window.__pwned=2) [docs](https://example.com/docs)');
    const answer = lastAnswer(page);
    await expect(answer).toHaveAttribute('data-finish', 'stop');
    await expect(answer.locator('.md strong')).toHaveText('bold');
    await expect(answer.locator('.md code').first()).toHaveText('code');
    const link = answer.locator('.md a[href="https://example.com/docs"]');
    await expect(link).toHaveAttribute('rel', 'noopener noreferrer');
    await expect(link).toHaveAttribute('target', '_blank');
    await expect(answer.locator('img, script, iframe')).toHaveCount(0);
    await expect(answer.locator('a[href^="javascript" i]')).toHaveCount(0);
    await expect(answer.locator('.md')).toContainText('<img src=x onerror=');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

    // CommonMark + GFM inline (the echo answer is JSON, so one line): a link with parentheses,
    // entities, nested emphasis, strikethrough, a bare URL. Blocks are covered in markdown.test.ts.
    await sendText(page, '[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) Tom &amp; Jerry ***a** b* ~~old~~ www.example.com/x and more');
    const rich = lastAnswer(page);
    await expect(rich).toHaveAttribute('data-finish', 'stop');
    await expect(rich.locator('.md a[href="https://en.wikipedia.org/wiki/Foo_(bar)"]')).toHaveText('Foo');
    await expect(rich.locator('.md')).toContainText('Tom & Jerry');
    await expect(rich.locator('.md em > strong')).toHaveText('a');
    await expect(rich.locator('.md del')).toHaveText('old');
    await expect(rich.locator('.md a[href="http://www.example.com/x"]')).toHaveText('www.example.com/x');
    await keepScreenshot(page, 'chat-markdown');
  });

  test('the chat window (?window=chat) opened mid-answer picks the answer up and streams it with the main window', async ({ page, app, context }) => {
    const id = await newChat(page, 'slow');
    await sendText(page, 'Count slowly.');
    await expect(streaming(page)).toContainText('tok3', { timeout: 15_000 });

    const chatWindow = await context.newPage();
    await chatWindow.goto(`${app.origin}/?token=${app.token}&window=chat#/chat/${id}`);
    // Chat only: no navigation.
    await expect(chatWindow.getByRole('navigation', { name: 'Views' })).toHaveCount(0);
    await expect(chatWindow.locator('.conv-heading')).toHaveText('Count slowly.');
    // What was said before it opened, then what follows.
    await expect(streaming(chatWindow)).toContainText('tok0 tok1 tok2 tok3');
    await watchStreaming(chatWindow);
    const seen = Number(/tok(\d+)\s*$/.exec((await streaming(chatWindow).textContent())!)![1]);
    await expect(streaming(chatWindow)).toContainText(`tok${seen + 5}`);
    expect((await streamTexts(chatWindow)).length).toBeGreaterThan(1);
    // Stopped from the chat window: both show the same stopped answer.
    await chatWindow.getByRole('button', { name: 'Stop' }).click();
    await expect(lastAnswer(chatWindow)).toHaveAttribute('data-finish', 'stopped');
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', 'stopped');
    expect(await lastAnswer(page).locator('.md').textContent()).toBe(await lastAnswer(chatWindow).locator('.md').textContent());
    await chatWindow.close();
  });

  test('conversations: keyboard model picker, edit and resend, rename inline, search jumps to the message, export, delete', async ({ page }) => {
    // The model picker works from the keyboard.
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: '+ New chat' }).first().click();
    await expect(page.getByRole('note').filter({ hasText: 'Pick a model' })).toBeVisible();
    await keepScreenshot(page, 'chat-pick-model');
    await page.locator('.picker-button').focus();
    await page.keyboard.press('ArrowDown');
    await expect(page.getByRole('listbox', { name: 'Models' })).toBeVisible();
    // The broken model is in the list but the keys pass it by: End and ArrowDown stop on steady.
    await expect(page.getByRole('option', { name: /^zz-broken/ })).toHaveAttribute('aria-disabled', 'true');
    await page.keyboard.press('End');
    await expect(page.getByRole('option', { name: /^steady/ })).toBeFocused();
    await page.keyboard.press('ArrowDown');
    await expect(page.getByRole('option', { name: /^steady/ })).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(page.locator('.picker-button .picker-name')).toHaveText('steady');
    await expect(page.getByRole('listbox', { name: 'Models' })).toHaveCount(0);
    await expect(page.locator('.picker-button')).toBeFocused();

    await sendText(page, 'alpha bravo');
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', /stop|length/);
    const firstId = decodeURIComponent(page.url().split('#/chat/')[1]);

    // Edit and resend: the message is replaced and answered again.
    const mine = page.locator('.msg-user').first();
    await mine.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('textbox', { name: 'Edit your message' }).fill('alpha bravo, edited');
    await page.getByRole('button', { name: 'Save and resend' }).click();
    await expect(page.locator('.msg-user .msg-text')).toHaveText(['alpha bravo, edited']);
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', /stop|length/);
    await expect(answers(page)).toHaveCount(1);

    // Rename inline.
    const item = page.locator(`.conv-item[data-conversation="${firstId}"]`);
    await item.getByRole('button', { name: /^Rename/ }).click();
    const rename = page.getByRole('textbox', { name: 'New name of the conversation' });
    await rename.fill('Phonetic chat');
    await rename.press('Enter');
    await expect(item.locator('.conv-title')).toHaveText('Phonetic chat');
    await expect(page.locator('.conv-heading')).toHaveText('Phonetic chat');

    // A second conversation, then search finds the first one's message and jumps to it.
    await page.getByRole('button', { name: '+ New chat' }).first().click();
    await expect(page).not.toHaveURL(new RegExp(firstId));
    await pickModel(page, 'steady');
    await sendText(page, 'charlie delta');
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', /stop|length/);
    await page.getByRole('searchbox', { name: 'Search conversations' }).fill('bravo, edit');
    const hit = page.getByRole('list', { name: 'Search results' }).getByRole('link').first();
    await expect(hit).toContainText('Phonetic chat');
    await expect(hit).toContainText('alpha bravo, edited');
    await hit.click();
    await expect(page).toHaveURL(new RegExp(`#/chat/${firstId}$`));
    await expect(page.locator('.msg-row.flash .msg-user')).toContainText('alpha bravo, edited');

    // Export: a download with the core's file name and the conversation in it.
    const [md] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export .md' }).click()]);
    expect(md.suggestedFilename()).toBe('Phonetic chat.md');
    expect(readFileSync((await md.path())!, 'utf8')).toContain('alpha bravo, edited');
    const [json] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: '.json' }).click()]);
    expect(json.suggestedFilename()).toBe('Phonetic chat.json');
    const exported = JSON.parse(readFileSync((await json.path())!, 'utf8')) as { conversation: { messages: unknown[] } };
    expect(exported.conversation.messages).toHaveLength(2);

    // Delete asks first; Cancel keeps it, Delete removes it.
    await page.getByRole('searchbox', { name: 'Search conversations' }).fill('');
    await item.getByRole('button', { name: /^Delete/ }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText('Delete “Phonetic chat”?');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(item).toBeVisible();
    await item.getByRole('button', { name: /^Delete/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await expect(item).toHaveCount(0);
    await expect(page.locator('.conv-item')).toHaveCount(1);
  });

  test('settings typed but not saved are saved by the send, so the answer uses what the panel shows; a wrong field stops the send', async ({ page, app }) => {
    const id = await newChat(page, 'steady');
    await page.getByRole('button', { name: 'Settings' }).click();
    const panel = page.getByRole('form', { name: 'Conversation settings' });
    const maxTokens = panel.getByLabel('Max tokens');
    const box = page.getByRole('textbox', { name: 'Message' });

    // A value that can't be saved: nothing is sent, the panel says why, the message stays in the composer.
    await maxTokens.fill('0');
    await sendText(page, 'Count to three.');
    await expect(panel.getByRole('alert')).toContainText('Max tokens must be at least 1');
    await expect(maxTokens).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByTestId('chat-error')).toContainText('Not sent');
    await expect(box).toHaveValue('Count to three.');
    await expect(page.locator('.msg-user')).toHaveCount(0);

    // 3, not saved either (Save settings never clicked): the send saves it, then the answer stops at 3 tokens (steady gives 8 by default).
    await maxTokens.fill('3');
    await box.press('Enter');
    const answer = lastAnswer(page);
    await expect(answer).toHaveAttribute('data-finish', /stop|length/);
    await expect(answer.getByTestId('stats')).toContainText('steady · 3 tokens');
    await expect(box).toHaveValue('');
    await expect(page.getByTestId('chat-error')).toHaveCount(0);
    // The panel still shows 3, now saved, and the conversation file keeps it.
    await expect(maxTokens).toHaveValue('3');
    await expect(panel.getByRole('button', { name: 'Save settings' })).toBeDisabled();
    const stored = await app.call('conversation', id);
    expect(stored.ok && stored.value.params.max_tokens).toBe(3);
  });

  test("'+ New chat' opens the conversation with nothing in it yet instead of adding another empty one", async ({ page, app }) => {
    await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Chat' }).click();
    const newButton = page.getByRole('button', { name: '+ New chat' }).first();
    const items = page.locator('.conv-item');
    // Two quick clicks (the second before the first one's reply), then another: one empty conversation.
    await newButton.dblclick();
    await expect(page).toHaveURL(/#\/chat\/[a-z0-9-]+$/);
    const empty = page.url();
    await newButton.click();
    await expect(items).toHaveCount(1);
    expect(page.url()).toBe(empty);

    // Once something is sent in it, '+ New chat' starts another, with the same model.
    await pickModel(page, 'steady');
    await sendText(page, 'first words');
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', /stop|length/);
    await newButton.click();
    await expect(items).toHaveCount(2);
    await expect(page).not.toHaveURL(empty);
    const second = page.url();
    await expect(page.locator('.picker-button .picker-name')).toHaveText('steady');

    // From the first conversation, '+ New chat' goes back to the empty one; nothing was deleted.
    await page.locator('.conv-item .conv-link', { hasText: 'first words' }).click();
    await expect(page).toHaveURL(empty);
    await newButton.click();
    await expect(page).toHaveURL(second);
    await expect(items).toHaveCount(2);
    const list = await app.call('conversations');
    expect(list.ok && list.value.map((c) => c.messageCount).sort()).toEqual([0, 2]);
  });
});

test.describe('a model that was evicted', () => {
  test.use({
    appOptions: {
      args: ['--max-active', '1'],
      configs: {
        'alpha.yaml': faultModel('alpha', { options: ['fault_load_ms:1500', 'fault_progress:1', 'fault_tokens:6'] }),
        'beta.yaml': faultModel('beta'),
      },
    },
  });

  test('L13: sending to an evicted model asks before unloading, shows the load in the conversation, and answers', async ({ page, app }) => {
    await newChat(page, 'alpha');
    // Nothing to unload: it loads and answers without asking.
    await sendText(page, 'first');
    await expect(page.getByTestId('gen-loading')).toBeVisible();
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', 'stop', { timeout: 15_000 });
    await expect(page.getByRole('dialog')).toHaveCount(0);

    // beta takes the only slot: alpha is evicted.
    expect((await app.call('load', 'beta')).ok).toBe(true);
    await expect(page.locator('.picker-button [data-testid="state"]')).toHaveText('Not loaded');

    // A blocked load says why and sends nothing.
    await app.call('pin', 'beta', true);
    await sendText(page, 'second');
    await expect(page.getByTestId('chat-error')).toContainText("alpha can't be loaded now");
    await expect(page.locator('.msg-user')).toHaveCount(1);
    await app.call('pin', 'beta', false);

    // Now it would unload beta: the user is asked, with what and why; Cancel sends nothing.
    await page.getByRole('button', { name: 'Send' }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText('Load alpha to answer?');
    await expect(dialog.getByTestId('plan-unloads').locator('[data-unload="beta"]')).toContainText('least recently used');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.locator('.msg-user')).toHaveCount(1);
    await expect(page.getByRole('textbox', { name: 'Message' })).toHaveValue('second');

    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Unload 1 and send' }).click();
    // The load shows inside the conversation, with its progress.
    const loading = page.getByTestId('gen-loading');
    await expect(loading).toContainText('Loading alpha');
    await expect(loading.getByTestId('state')).toHaveText(/Starting|Loading/);
    await keepScreenshot(page, 'chat-loading');
    await expect(lastAnswer(page)).toHaveAttribute('data-finish', 'stop', { timeout: 15_000 });
    await expect(answers(page)).toHaveCount(2);
    await expect(page.locator('.picker-button [data-testid="state"]')).toHaveText('Loaded');
  });
});

/** Tests that restart the app on the same data: their own app and page errors check. */
const restartTest = base.extend<{ errors: string[] }>({
  // Anything the page logs as an error is a bug worth seeing in the report (as in support/app.ts).
  errors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error' && !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/.test(m.text())) errors.push(m.text());
      });
      await use(errors);
      expect(errors, 'errors thrown in the page').toEqual([]);
    },
    { auto: true },
  ],
});

restartTest.describe('history on disk', () => {
  const configs = { 'steady.yaml': faultModel('steady', { options: ['fault_tokens:8'] }) };

  restartTest('history is still there after the core restarts on the same data (page reloaded)', async ({ page }) => {
    const dir = tempRoot();
    try {
      let app = await startApp({ root: dir, configs });
      await page.goto(app.url);
      await newChat(page, 'steady');
      await sendText(page, 'remember me');
      await expect(lastAnswer(page)).toHaveAttribute('data-finish', 'stop');
      const text = await lastAnswer(page).locator('.md').textContent();
      await app.stop();
      await expect(page.getByTestId('disconnected')).toBeVisible();

      app = await startApp({ root: dir, configs });
      try {
        await page.goto(`${app.url}#/chat`);
        await expect(page.locator('.conv-title')).toHaveText(['remember me']);
        await expect(page.locator('.msg-user .msg-text')).toHaveText(['remember me']);
        await expect(lastAnswer(page).locator('.md')).toHaveText(text!);
        await expect(lastAnswer(page).getByTestId('stats')).toContainText('steady · 8 tokens');
      } finally {
        await app.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  restartTest('a torn last line in a history file is dropped on start; the earlier messages and new ones are kept', async ({ page }) => {
    const dir = tempRoot();
    try {
      let app = await startApp({ root: dir, configs });
      await page.goto(app.url);
      await newChat(page, 'steady');
      await sendText(page, 'one');
      await expect(lastAnswer(page)).toHaveAttribute('data-finish', 'stop');
      await app.stop();

      // Loadout "crashed" while writing a line: half a JSON record at the end of the file.
      const chats = join(dir, 'data', 'chats');
      const [file] = readdirSync(chats).filter((f) => f.endsWith('.jsonl'));
      appendFileSync(join(chats, file), '{"type":"message","message":{"id":"zz-torn","role":"user","content":"half a li');

      app = await startApp({ root: dir, configs });
      try {
        // The core says so (a note after the URL line).
        await expect.poll(() => app.output()).toContain('was cut off');
        await page.goto(`${app.url}#/chat`);
        await expect(page.locator('.msg-user .msg-text')).toHaveText(['one']);
        await expect(answers(page)).toHaveCount(1);
        await expect(page.getByText('half a li')).toHaveCount(0);
        // The file was repaired: the next message appends cleanly and survives another restart.
        await sendText(page, 'two');
        await expect(answers(page)).toHaveCount(2);
        await expect(lastAnswer(page)).toHaveAttribute('data-finish', 'stop');
      } finally {
        await app.stop();
      }
      app = await startApp({ root: dir, configs });
      try {
        await expect.poll(() => app.output()).toContain('models: ');
        expect(app.output()).not.toContain('was cut off');
        await page.goto(`${app.url}#/chat`);
        await expect(page.locator('.msg-user .msg-text')).toHaveText(['one', 'two']);
      } finally {
        await app.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  restartTest('a 3,000-message conversation opens at its end with only the rows in view in the page; scrolling reaches the start', async ({ page }) => {
    const dir = tempRoot();
    try {
      const messages: ChatMessage[] = Array.from({ length: 3000 }, (_, i) => ({
        id: `m${String(i).padStart(5, '0')}`,
        role: i % 2 === 0 ? 'user' : 'assistant',
        content: i % 2 === 0 ? `Question number ${i}` : `Answer number ${i}.\n\n${'More text. '.repeat(i % 40)}`,
        at: new Date(Date.UTC(2025, 4, 1, 9, 0, i)).toISOString(),
        ...(i % 2 === 1 ? { model: 'steady', finish: 'stop' as const } : {}),
      }));
      writeConversation(join(dir, 'data'), 'long-chat', 'A long chat', 'steady', messages);
      const app = await startApp({ root: dir, configs });
      try {
        await page.goto(`${app.url}#/chat/long-chat`);
        await expect(page.locator('.msg-row').last()).toContainText('Answer number 2999');
        expect(await page.locator('.msg-row').count()).toBeLessThan(60);
        const scroller = page.getByRole('list', { name: 'Messages' });
        // Scrolled to the end: the last message is in view.
        await expect(page.locator('.msg-row').last()).toBeInViewport();
        // Rows measured on the way may move the content under the scroll position: scroll again until the start is shown.
        await expect(async () => {
          await scroller.evaluate((el) => (el.scrollTop = 0));
          await expect(page.locator('.msg[data-id="m00000"]')).toBeInViewport({ timeout: 500 });
        }).toPass();
        expect(await page.locator('.msg-row').count()).toBeLessThan(60);
      } finally {
        await app.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  restartTest('screenshot of the chat view (the README\'s chat.png)', async ({ page }) => {
    const dir = tempRoot();
    try {
      // Recent times, so the list reads "2 d ago", "4 min ago".
      const at = (s: number) => new Date(Date.now() - (s < 9 ? 2 * 86_400_000 : 300_000) + s * 1000).toISOString();
      writeConversation(join(dir, 'data'), 'older-chat', 'Packing list for a trip', 'tiny-chat', [
        { id: 'o1', role: 'user', content: 'What should I pack for three days of hiking?', at: at(1) },
        { id: 'o2', role: 'assistant', content: 'Layers, water, a map and snacks.', at: at(2), model: 'tiny-chat', finish: 'stop' },
      ], at(0));
      writeConversation(join(dir, 'data'), 'demo-chat', 'Reverse a list in Python', 'tiny-chat', [
        { id: 'd1', role: 'user', content: 'How do I reverse a list in Python? Keep it short.', at: at(10) },
        {
          id: 'd2',
          role: 'assistant',
          content: [
            'Two common ways:',
            '',
            '1. **In place** with `list.reverse()`: changes the list itself.',
            '2. **A reversed copy** with slicing, `items[::-1]`: leaves the original alone.',
            '',
            '```python',
            'items = [1, 2, 3]',
            'items.reverse()        # items is now [3, 2, 1]',
            'backwards = items[::-1]  # a new list: [1, 2, 3]',
            '```',
            '',
            '| Way | Copies | Returns |',
            '|:----|:------:|--------:|',
            '| `reverse()` | no | `None` |',
            '| `[::-1]` | yes | the new list |',
            '',
            '> Tip: `reversed(items)` gives an iterator, handy in a `for` loop. See the [docs](https://docs.python.org/3/tutorial/datastructures.html).',
          ].join('\n'),
          at: at(11),
          model: 'tiny-chat',
          finish: 'stop',
          stats: { tokens: 118, promptTokens: 31, ttftMs: 212, tokensPerSecond: 1480.5, durationMs: 292 },
        },
        { id: 'd3', role: 'user', content: 'And for a string?', at: at(12) },
        {
          id: 'd4',
          role: 'assistant',
          content: 'Strings have no `reverse()`, but slicing works the same way: `"abc"[::-1]` gives `"cba"`.',
          at: at(13),
          model: 'tiny-chat',
          finish: 'stopped',
          stats: { tokens: 27, promptTokens: 160, ttftMs: 95, tokensPerSecond: 1392, durationMs: 114 },
        },
      ], at(9));
      const app = await startApp({ root: dir, ggufs: { 'tiny-chat': 7 }, configs: { 'helper.yaml': faultModel('helper') } });
      try {
        await page.goto(`${app.url}#/chat/demo-chat`);
        expect((await app.call('load', 'tiny-chat')).ok).toBe(true);
        await expect(page.locator('.picker-button [data-testid="state"]')).toHaveText('Loaded');
        await page.getByRole('textbox', { name: 'Message' }).fill('Thanks! What about a tuple?');
        await expect(page.locator('.md-code')).toContainText('items.reverse()');
        await readmeScreenshot(page, 'chat', 'chat');
        await page.emulateMedia({ colorScheme: 'dark' });
        await keepScreenshot(page, 'chat-dark');
        await page.emulateMedia({ colorScheme: 'light' });
        // The chat window, narrow: the list hides behind a button.
        await page.setViewportSize({ width: 560, height: 720 });
        await page.goto(`${app.origin}/?token=${app.token}&window=chat#/chat/demo-chat`);
        await expect(page.locator('.chat-side')).toBeHidden();
        await keepScreenshot(page, 'chat-window-narrow');
        await page.getByRole('button', { name: 'Show the conversations' }).click();
        await expect(page.locator('.chat-side')).toBeVisible();
        await keepScreenshot(page, 'chat-window-narrow-list');
        await page.locator('.conv-item[data-conversation="older-chat"] .conv-link').click();
        await expect(page.locator('.chat-side')).toBeHidden();
        await expect(page.locator('.conv-heading')).toHaveText('Packing list for a trip');
      } finally {
        await app.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
