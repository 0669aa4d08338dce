/**
 * The contract's commands with untrusted arguments (Trust 16), as a page's WebSocket or IPC sends
 * them, against a real core: every malformed call answers `invalid` with a sentence naming the
 * command and the argument, before any handler runs; nothing leaks a JavaScript TypeError.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { COMMAND_NAMES, COMMANDS } from '../src/shared/contract';
import { contractHandlers, dispatch } from '../src/main/core/handlers';
import { disposeAll, faultModel, startTestCore } from './harness';

afterEach(() => disposeAll());

async function handlers() {
  const t = await startTestCore({ configs: { 'a.yaml': faultModel('a') } });
  return { t, h: contractHandlers(t.core) };
}

describe('command arguments are checked against the contract table', () => {
  it('answers malformed arguments with invalid and a message that says what to send', async () => {
    const { t, h } = await handlers();
    const backends = t.core.commands.backends();
    const cases: [string, unknown[], RegExp][] = [
      ['addBackend', [5], /^addBackend: entry must be an object with name, target \(got a number\)$/],
      ['addBackend', [{ name: 'x' }], /^addBackend: entry\.target must be text \(got nothing\)$/],
      ['addBackend', [{ name: 'x', target: 'y', evil: 1 }], /unknown key "evil"/],
      ['removeBackend', [{}], /^removeBackend: name must be text \(got an object\)$/],
      ['updateSettings', [[]], /^updateSettings: patch must be an object of settings.*\(got a list\)$/],
      ['updateSettings', [], /^updateSettings takes 1 argument, got 0: updateSettings\(patch\)$/],
      ['load', ['a', 'b'], /^load takes 1 argument, got 2/],
      ['unload', ['a', { force: 'yes' }], /^unload: opts\.force must be true or false \(got text\)$/],
      ['pin', ['a'], /^pin takes 2 arguments, got 1/],
      ['updateModel', ['a', { ttl: 'soon' }], /^updateModel: patch\.ttl must be a number \(got text\)$/],
      ['exportConversation', ['x', 'pdf'], /^exportConversation: format must be "markdown" or "json"$/],
      ['load', ['a '], /name must not start or end with spaces/],
      ['load', ['a\u0000'], /name must not contain control characters/],
    ];
    for (const [name, args, message] of cases) {
      const out = await dispatch(h, name, args);
      expect(out, `${name}(${JSON.stringify(args)})`).toMatchObject({ ok: false, error: { code: 'invalid' } });
      if (!out.ok) expect(out.error.message, name).toMatch(message);
    }
    // Nothing reached the core: the registry is as it was.
    expect(t.core.commands.backends()).toEqual(backends);
  });

  it('a 30,000-character search answers a clear refusal without echoing the query', async () => {
    const { h } = await handlers();
    const query = 'q'.repeat(30_000);
    const out = await dispatch(h, 'searchConversations', [query]);
    expect(out).toEqual({ ok: false, error: { code: 'invalid', message: 'searchConversations: query is too long (30,000 characters; at most 1,000)' } });
  });

  it('an optional argument sent as null (JSON turns undefined into null) is absent', async () => {
    const { h } = await handlers();
    expect(await dispatch(h, 'journal', [null])).toMatchObject({ ok: true });
    expect(await dispatch(h, 'unload', ['a', null])).toMatchObject({ ok: true, value: { name: 'a', state: 'unloaded' } });
  });

  it('every command in the table has a handler and a check for each argument', () => {
    expect(COMMAND_NAMES).toEqual(Object.keys(COMMANDS));
    for (const name of COMMAND_NAMES) for (const a of COMMANDS[name].args) expect(typeof a.check, `${name} ${a.label}`).toBe('function');
  });
});
