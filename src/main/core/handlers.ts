/** The contract's command handlers over a core, and the one place results become Outcomes. */
import type { CommandHandlers, CommandName, Commands, Outcome } from '../../shared/contract';
import { COMMAND_NAMES, checkArgs, isCommandName } from '../../shared/contract';
import { toErrorData } from '../../shared/errors';
import type { Core } from './createCore';

/** The contract's commands are the core's own (CoreCommands extends CommandHandlers); the rest of the core's stay inside. */
export function contractHandlers(core: Core): CommandHandlers {
  const c = core.commands;
  return Object.fromEntries(COMMAND_NAMES.map((name) => [name, c[name]])) as CommandHandlers;
}

/**
 * Runs a command by name with untrusted arguments; never throws (errors come back as data).
 * Arguments are checked against the contract's table first, so a handler only ever sees the
 * types it declares.
 */
export async function dispatch(handlers: CommandHandlers, name: unknown, args: unknown): Promise<Outcome<unknown>> {
  if (!isCommandName(name)) return { ok: false, error: { code: 'invalid', message: `unknown command ${JSON.stringify(typeof name === 'string' ? name.slice(0, 64) : name)}` } };
  if (!Array.isArray(args)) return { ok: false, error: { code: 'invalid', message: `arguments of ${name} must be a list` } };
  const checked = checkArgs(name, args);
  if (!checked.ok) return { ok: false, error: { code: 'invalid', message: checked.message } };
  try {
    const handler = handlers[name] as (...a: unknown[]) => unknown;
    return { ok: true, value: await handler(...checked.args) };
  } catch (e) {
    return { ok: false, error: toErrorData(e, 'invalid') };
  }
}

export type { CommandName, Commands };
