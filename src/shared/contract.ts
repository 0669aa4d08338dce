/**
 * THE contract between the core and its clients (Electron IPC, the headless WebSocket bridge,
 * the renderer): every command with its arguments and result, and the event stream. Adding a
 * command is one entry in `COMMANDS`; the types, the name list, the argument checks, the preload,
 * ipcMain registration, bridge and client derive from it, so a missing handler is a type error.
 */
import type { ChatExportFormat, ChatMessage, ChatSearchHit, Conversation, ConversationPatch, ConversationSummary, Generation } from './chat';
import * as c from './argCheck';
import type { Check } from './argCheck';
import type { ClusterSnapshot } from './cluster';
import type { ErrorData } from './errors';
import type { HubModel, HubRepoFiles } from './quants';
import type { BackendEntry, CoreEvent, DownloadJob, EngineBuildStatus, JournalEntry, LlamaServerStatus, LogLine, ModelRow, Plan, RequestLogEntry, ServerStatus, Settings, Snapshot } from './model';

/** The keys of a model's config the GUI edits; `null` removes the key (back to the default). */
const modelConfigPatch = c.object({
  pinned: c.optional(c.flag),
  concurrency_groups: c.optional(c.list(c.text({ max: 200 }))),
  ttl: c.optional(c.nullable(c.number())),
  context_size: c.optional(c.nullable(c.number({ integer: true }))),
  parallel: c.optional(c.nullable(c.number({ integer: true }))),
  disabled: c.optional(c.flag),
  /** D35: the whole `cluster:` block (null or all fields null removes it); the core checks min <= max and the selector. */
  cluster: c.optional(
    c.nullable(
      c.object({
        min_replicas: c.optional(c.nullable(c.number({ integer: true }))),
        max_replicas: c.optional(c.nullable(c.number({ integer: true }))),
        node_selector: c.optional(c.nullable(c.record<Record<string, string>>('an object of node labels, such as {"gpu": "cuda"}'))),
      }),
    ),
  ),
});
export type ModelConfigPatch = c.TypeOf<typeof modelConfigPatch>;

/** What to download (downloads-spec section 4): a URI, a catalog model's URI, or a Hub repo and file. */
const downloadRequest = c.object({
  uri: c.optional(c.text({ max: 4096, nonEmpty: true })),
  model: c.optional(c.name),
  repo: c.optional(c.text({ max: 200, nonEmpty: true })),
  file: c.optional(c.text({ max: 1000, nonEmpty: true })),
  revision: c.optional(c.text({ max: 200, nonEmpty: true })),
  sha256: c.optional(c.text({ max: 64, nonEmpty: true })),
  /** The file name in the models folder (default: the URI's last segment). */
  name: c.optional(c.text({ max: 255, nonEmpty: true })),
});
export type DownloadStart = c.TypeOf<typeof downloadRequest>;

/** A new model from the "Add model" flow: its config's name and its files (the first is `parameters.model`; split parts follow). */
const newModel = c.object({
  name: c.name,
  files: c.list(c.object({ uri: c.text({ max: 4096, nonEmpty: true }), sha256: c.optional(c.text({ max: 64, nonEmpty: true })) }), { max: 64 }),
});
export type NewModel = c.TypeOf<typeof newModel>;

/**
 * A result type, named once in the table (results are the core's to get right, so they are not
 * checked): `returns` for a command the core answers at once, `resolves` for one it answers later.
 */
interface Returns<T> {
  readonly __result?: T;
}
interface Resolves<T> extends Returns<T> {
  readonly async: true;
}
const returns = <T>(): Returns<T> => ({});
const resolves = <T>(): Resolves<T> => ({ async: true });

/** One argument: its name (for messages) and its check; `optional` ones may be left out at the end. */
interface Arg<T, O extends boolean> {
  label: string;
  check: Check<unknown>;
  optional: O;
  readonly __type?: T;
}
const arg = <T>(label: string, check: Check<T>): Arg<T, false> => ({ label, check, optional: false });
const optionalArg = <T>(label: string, check: Check<T>): Arg<T, true> => ({ label, check: c.optional(check), optional: true });

type AnyArg = Arg<unknown, boolean>;
interface CommandSpec<A extends readonly AnyArg[] = readonly AnyArg[], R extends Returns<unknown> = Returns<unknown>> {
  args: A;
  result: R;
}
const command = <R extends Returns<unknown>, A extends AnyArg[]>(result: R, ...args: A): CommandSpec<A, R> => ({ args, result });

/** The names of models, conversations and messages: text, checked further by the core (ids by their pattern). */
const modelName = c.name;
const id = c.text({ max: 200 });
/** A search is a literal substring: longer than any message a person would look for is a mistake. */
const SEARCH_MAX = 1000;

/**
 * THE command table: each command's arguments (with the checks every call passes before it runs)
 * and its result. Everything else is derived from it: the `Commands` types, the name list, the
 * handler map the core must provide, and the checks of `dispatch`.
 */
export const COMMANDS = {
  snapshot: command(returns<Snapshot>()),
  load: command(resolves<ModelRow>(), arg('name', modelName)),
  unload: command(resolves<ModelRow>(), arg('name', modelName), optionalArg('opts', c.object({ force: c.optional(c.flag) }))),
  cancelLoad: command(returns<ModelRow>(), arg('name', modelName)),
  plan: command(returns<Plan>(), arg('name', modelName)),
  pin: command(resolves<ModelRow>(), arg('name', modelName), arg('pinned', c.flag)),
  updateModel: command(resolves<ModelRow>(), arg('name', modelName), arg('patch', modelConfigPatch)),
  settings: command(returns<Settings>()),
  updateSettings: command(resolves<Settings>(), arg('patch', c.record<Partial<Settings>>('an object of settings, such as {"idle_timeout": 600}'))),
  journal: command(returns<JournalEntry[]>(), optionalArg('model', modelName)),
  logs: command(returns<LogLine[]>(), arg('name', modelName)),
  clearLogs: command(returns<void>(), arg('name', modelName)),
  backends: command(returns<BackendEntry[]>()),
  addBackend: command(returns<BackendEntry>(), arg('entry', c.object({ name: c.text({ max: 200 }), target: c.text({ max: 4096 }) }))),
  removeBackend: command(returns<void>(), arg('name', c.text({ max: 200 }))),
  testBackend: command(resolves<{ ok: boolean; message: string }>(), arg('target', c.text({ max: 4096 }))),
  llamaServer: command(resolves<LlamaServerStatus>()),
  /** Engine 2: "optimize for this machine", a local build of the built-in engine's binding. */
  engineBuild: command(returns<EngineBuildStatus>()),
  /** Starts that build (minutes); progress through `engineBuild`. */
  startEngineBuild: command(returns<EngineBuildStatus>()),
  /** Deletes the local build: backends started from now on use the prebuilt binary again. */
  removeEngineBuild: command(resolves<EngineBuildStatus>()),
  requestLog: command(returns<RequestLogEntry[]>()),
  serverStatus: command(returns<ServerStatus>()),
  /** Newest first. */
  conversations: command(returns<ConversationSummary[]>()),
  conversation: command(returns<Conversation>(), arg('id', id)),
  createConversation: command(returns<ConversationSummary>(), optionalArg('init', c.record<ConversationPatch>('an object such as {"title": "...", "model": "..."}'))),
  updateConversation: command(returns<ConversationSummary>(), arg('id', id), arg('patch', c.record<ConversationPatch>('an object such as {"title": "..."}'))),
  deleteConversation: command(resolves<void>(), arg('id', id)),
  searchConversations: command(returns<ChatSearchHit[]>(), arg('query', c.text({ max: SEARCH_MAX }))),
  exportConversation: command(returns<{ filename: string; mime: string; text: string }>(), arg('id', id), arg('format', c.oneOf<ChatExportFormat>('markdown', 'json'))),
  /** Appends the user's message and starts the answer (loading the model if needed); returns the user's message. */
  sendMessage: command(returns<ChatMessage>(), arg('id', id), arg('text', c.text())),
  /** Stops the answer at once (R3); the partial answer is kept. No-op when nothing is generating. */
  stopGeneration: command(resolves<void>(), arg('id', id)),
  /** Drops the last answer and generates it again. */
  regenerate: command(returns<void>(), arg('id', id)),
  /** Replaces a user message, drops everything after it, and answers again. */
  editMessage: command(returns<ChatMessage>(), arg('id', id), arg('messageId', id), arg('text', c.text())),
  /** Download jobs (G35). */
  downloads: command(returns<DownloadJob[]>()),
  /** Starts the jobs for what the request names; `created` is false when they were there already (G31). */
  startDownload: command(returns<{ jobs: DownloadJob[]; created: boolean }>(), arg('request', downloadRequest)),
  pauseDownload: command(resolves<DownloadJob>(), arg('id', id)),
  resumeDownload: command(resolves<DownloadJob>(), arg('id', id)),
  cancelDownload: command(resolves<DownloadJob>(), arg('id', id)),
  /** GGUF repositories on `hf_endpoint` matching the words (G38). */
  hubSearch: command(resolves<HubModel[]>(), arg('query', c.text({ max: 200, nonEmpty: true }))),
  /** A Hub repository's files, its GGUFs by quantization with a fit verdict, and the default pick (G39). */
  hubFiles: command(resolves<HubRepoFiles>(), arg('repo', c.text({ max: 200, nonEmpty: true })), optionalArg('revision', c.text({ max: 200, nonEmpty: true }))),
  /** Writes the model's LocalAI YAML (never over an existing one), then starts its downloads (G40). */
  addModel: command(resolves<{ model: string; jobs: DownloadJob[] }>(), arg('model', newModel)),
  /** The cluster's nodes and replicas; null when this app is not in a cluster (distributed-spec 4). */
  cluster: command(returns<ClusterSnapshot | null>()),
  /** D28: the node takes no new loads; its replicas leave once idle and replaced. */
  drainNode: command(resolves<void>(), arg('node', c.text({ max: 200 }))),
  /** Unloads one replica of a model on one node. */
  unloadReplica: command(resolves<void>(), arg('node', c.text({ max: 200 })), arg('model', modelName)),
  /** Answers being generated now (for a window that opens mid-answer). */
  generations: command(returns<Generation[]>()),
} satisfies Record<string, CommandSpec>;

type Table = typeof COMMANDS;
export type CommandName = keyof Table;

/** An argument list's type from its specs; optional ones become optional elements. */
type ArgsOf<A> = A extends readonly [infer H, ...infer R]
  ? H extends Arg<infer T, true>
    ? [T?, ...ArgsOf<R>]
    : H extends Arg<infer T, false>
      ? [T, ...ArgsOf<R>]
      : never
  : [];

export type Commands = { [K in CommandName]: { args: ArgsOf<Table[K]['args']>; result: Table[K]['result'] extends Returns<infer R> ? R : never } };

/** Runtime list of command names (the preload and bridges accept only these). */
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

/**
 * Checks a call's arguments against the table. A misfit gets a message for the caller that names
 * the command, the argument and what it must be; absent optional arguments become undefined.
 */
export function checkArgs(name: CommandName, args: readonly unknown[]): { ok: true; args: unknown[] } | { ok: false; message: string } {
  const specs: readonly AnyArg[] = COMMANDS[name].args;
  const required = specs.filter((s) => !s.optional).length;
  if (args.length > specs.length || args.length < required) {
    const usage = `${name}(${specs.map((s) => (s.optional ? `${s.label}?` : s.label)).join(', ')})`;
    const count = required === specs.length ? `${specs.length}` : `${required} to ${specs.length}`;
    return { ok: false, message: `${name} takes ${count} argument${specs.length === 1 ? '' : 's'}, got ${args.length}: ${usage}` };
  }
  for (const [i, spec] of specs.entries()) {
    const problem = spec.check(args[i], spec.label);
    if (problem) return { ok: false, message: `${name}: ${problem}` };
  }
  return { ok: true, args: args.map((a) => (a === null || a === undefined ? undefined : a)) };
}

/** Errors cross process boundaries as data (convention 4). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ErrorData };

/** What the core must provide for the contract: each command with its exact arguments, answered at once or later as the table says. */
export type CoreHandlers = {
  [K in CommandName]: (...args: Commands[K]['args']) => Table[K]['result'] extends Resolves<infer R> ? Promise<R> : Commands[K]['result'];
};

/** Any implementation of the commands (a test's, or the core's). */
export type CommandHandlers = { [K in CommandName]: (...args: Commands[K]['args']) => Commands[K]['result'] | Promise<Commands[K]['result']> };

/** What the preload exposes to the page as `window.loadout`. */
export interface LoadoutBridge {
  invoke<K extends CommandName>(name: K, ...args: Commands[K]['args']): Promise<Outcome<Commands[K]['result']>>;
  onEvent(listener: (event: CoreEvent) => void): () => void;
}

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.hasOwn(COMMANDS, name);
}

export const IPC_INVOKE = 'loadout:invoke';
export const IPC_EVENT = 'loadout:event';
