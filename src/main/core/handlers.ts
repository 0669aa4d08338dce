/** The contract's command handlers over a core, and the one place results become Outcomes. */
import type { CommandHandlers, CommandName, Commands, Outcome } from '../../shared/contract';
import { isCommandName } from '../../shared/contract';
import { toErrorData } from '../../shared/errors';
import type { Core } from './createCore';

export function contractHandlers(core: Core): CommandHandlers {
  const c = core.commands;
  return {
    snapshot: () => c.snapshot(),
    load: (name) => c.load(name, { origin: 'user' }),
    unload: (name, opts) => c.unload(name, opts),
    cancelLoad: (name) => c.cancelLoad(name),
    plan: (name) => c.plan(name),
    pin: (name, pinned) => c.pin(name, pinned),
    updateModel: (name, patch) => c.updateModel(name, patch),
    settings: () => c.settings(),
    updateSettings: (patch) => c.updateSettings(patch as Record<string, unknown>),
    journal: (model) => c.journal(model),
    logs: (name) => c.logs(name),
    clearLogs: (name) => c.clearLogs(name),
    backends: () => c.backends(),
    addBackend: (entry) => c.addBackend(entry),
    removeBackend: (name) => c.removeBackend(name),
    testBackend: (target) => c.testBackend(target),
    requestLog: () => c.requestLog(),
    serverStatus: () => c.serverStatus(),
    conversations: () => c.conversations(),
    conversation: (id) => c.conversation(id),
    createConversation: (init) => c.createConversation(init),
    updateConversation: (id, patch) => c.updateConversation(id, patch),
    deleteConversation: (id) => c.deleteConversation(id),
    searchConversations: (query) => c.searchConversations(query),
    exportConversation: (id, format) => c.exportConversation(id, format),
    sendMessage: (id, text) => c.sendMessage(id, text),
    stopGeneration: (id) => c.stopGeneration(id),
    regenerate: (id) => c.regenerate(id),
    editMessage: (id, messageId, text) => c.editMessage(id, messageId, text),
    generations: () => c.generations(),
  };
}

/** Runs a command by name with untrusted arguments; never throws (errors come back as data). */
export async function dispatch(handlers: CommandHandlers, name: unknown, args: unknown): Promise<Outcome<unknown>> {
  if (!isCommandName(name)) return { ok: false, error: { code: 'invalid', message: `unknown command ${JSON.stringify(name)}` } };
  if (!Array.isArray(args)) return { ok: false, error: { code: 'invalid', message: `arguments of ${name} must be a list` } };
  try {
    const handler = handlers[name] as (...a: unknown[]) => unknown;
    return { ok: true, value: await handler(...args) };
  } catch (e) {
    return { ok: false, error: toErrorData(e, 'invalid') };
  }
}

export type { CommandName, Commands };
