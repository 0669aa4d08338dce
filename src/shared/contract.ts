/**
 * THE contract between the core and its clients (Electron IPC, the headless WebSocket bridge,
 * the renderer): every command with its arguments and result, and the event stream. Adding a
 * command is one entry here; the preload, ipcMain registration, bridge and client are generic
 * over this map, so a missing handler is a type error.
 */
import type { ChatExportFormat, ChatMessage, ChatSearchHit, Conversation, ConversationPatch, ConversationSummary, Generation } from './chat';
import type { ErrorData } from './errors';
import type { BackendEntry, CoreEvent, JournalEntry, LogLine, ModelRow, Plan, RequestLogEntry, ServerStatus, Settings, Snapshot } from './model';

/** The keys of a model's config the GUI edits; `null` removes the key (back to the default). */
export interface ModelConfigPatch {
  pinned?: boolean;
  concurrency_groups?: string[];
  ttl?: number | null;
  context_size?: number | null;
  parallel?: number | null;
  disabled?: boolean;
}

export interface Commands {
  snapshot: { args: []; result: Snapshot };
  load: { args: [name: string]; result: ModelRow };
  unload: { args: [name: string, opts?: { force?: boolean }]; result: ModelRow };
  cancelLoad: { args: [name: string]; result: ModelRow };
  plan: { args: [name: string]; result: Plan };
  pin: { args: [name: string, pinned: boolean]; result: ModelRow };
  updateModel: { args: [name: string, patch: ModelConfigPatch]; result: ModelRow };
  settings: { args: []; result: Settings };
  updateSettings: { args: [patch: Partial<Settings>]; result: Settings };
  journal: { args: [model?: string]; result: JournalEntry[] };
  logs: { args: [name: string]; result: LogLine[] };
  clearLogs: { args: [name: string]; result: void };
  backends: { args: []; result: BackendEntry[] };
  addBackend: { args: [entry: { name: string; target: string }]; result: BackendEntry };
  removeBackend: { args: [name: string]; result: void };
  testBackend: { args: [target: string]; result: { ok: boolean; message: string } };
  requestLog: { args: []; result: RequestLogEntry[] };
  serverStatus: { args: []; result: ServerStatus };
  /** Newest first. */
  conversations: { args: []; result: ConversationSummary[] };
  conversation: { args: [id: string]; result: Conversation };
  createConversation: { args: [init?: ConversationPatch]; result: ConversationSummary };
  updateConversation: { args: [id: string, patch: ConversationPatch]; result: ConversationSummary };
  deleteConversation: { args: [id: string]; result: void };
  searchConversations: { args: [query: string]; result: ChatSearchHit[] };
  exportConversation: { args: [id: string, format: ChatExportFormat]; result: { filename: string; mime: string; text: string } };
  /** Appends the user's message and starts the answer (loading the model if needed); returns the user's message. */
  sendMessage: { args: [id: string, text: string]; result: ChatMessage };
  /** Stops the answer at once (R3); the partial answer is kept. No-op when nothing is generating. */
  stopGeneration: { args: [id: string]; result: void };
  /** Drops the last answer and generates it again. */
  regenerate: { args: [id: string]; result: void };
  /** Replaces a user message, drops everything after it, and answers again. */
  editMessage: { args: [id: string, messageId: string, text: string]; result: ChatMessage };
  /** Answers being generated now (for a window that opens mid-answer). */
  generations: { args: []; result: Generation[] };
}

export type CommandName = keyof Commands;

/** Runtime list of command names (the preload and bridges accept only these). */
export const COMMAND_NAMES = [
  'snapshot',
  'load',
  'unload',
  'cancelLoad',
  'plan',
  'pin',
  'updateModel',
  'settings',
  'updateSettings',
  'journal',
  'logs',
  'clearLogs',
  'backends',
  'addBackend',
  'removeBackend',
  'testBackend',
  'requestLog',
  'serverStatus',
  'conversations',
  'conversation',
  'createConversation',
  'updateConversation',
  'deleteConversation',
  'searchConversations',
  'exportConversation',
  'sendMessage',
  'stopGeneration',
  'regenerate',
  'editMessage',
  'generations',
] as const satisfies readonly CommandName[];

// Compile-time check that COMMAND_NAMES lists every command.
type Missing = Exclude<CommandName, (typeof COMMAND_NAMES)[number]>;
const everyCommandListed: Missing extends never ? true : Missing = true;
void everyCommandListed;

/** Errors cross process boundaries as data (convention 4). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ErrorData };

export type CommandHandlers = { [K in CommandName]: (...args: Commands[K]['args']) => Commands[K]['result'] | Promise<Commands[K]['result']> };

/** What the preload exposes to the page as `window.loadout`. */
export interface LoadoutBridge {
  invoke<K extends CommandName>(name: K, ...args: Commands[K]['args']): Promise<Outcome<Commands[K]['result']>>;
  onEvent(listener: (event: CoreEvent) => void): () => void;
}

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && (COMMAND_NAMES as readonly string[]).includes(name);
}

export const IPC_INVOKE = 'loadout:invoke';
export const IPC_EVENT = 'loadout:event';
