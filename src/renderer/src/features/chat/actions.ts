/**
 * What the chat's buttons do: contract calls, with every failure shown where it happened (the
 * conversation's error line, or a notice) in the core's words. The core owns conversations and
 * generation; the results come back as events, which chatState.ts folds.
 */
import type { ChatExportFormat, ChatSearchHit, ConversationPatch, ConversationSummary } from '../../../../shared/chat';
import type { Outcome } from '../../../../shared/contract';
import type { Plan } from '../../../../shared/model';
import type { LoadoutClient } from '../../api/client';
import { navigate, routeHref } from '../../router';
import { api } from '../../store/connect';
import { useStore } from '../../store/store';
import { emptyConversation } from './chatState';
import { useChat } from './chatStore';
import { unsavedParams } from './paramsDraft';

const chat = () => useChat.getState();
const notify = (text: string) => useStore.getState().notify(text);

/** Reads the list and the answers in progress (after start and every reconnect). */
export async function resyncChat(client: LoadoutClient): Promise<void> {
  const [list, generations] = await Promise.all([client.invoke('conversations'), client.invoke('generations')]);
  if (list.ok) {
    chat().setListError(null);
    chat().receiveList(list.value);
  } else chat().setListError(list.error.message);
  if (generations.ok) chat().receiveGenerations(generations.value);
}

const fetching = new Set<string>();

/** Fetches a conversation's messages (once at a time). */
export async function fetchConversation(id: string): Promise<void> {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const r = await api().invoke('conversation', id);
    if (r.ok) chat().receiveConversation(r.value);
    else chat().setLoadError(id, r.error.message);
  } finally {
    fetching.delete(id);
  }
}

/** The '+ New chat' in progress: a second click before the first one's reply opens the same conversation. */
let starting: Promise<ConversationSummary | null> | null = null;

/**
 * Opens a conversation to write in: the empty one if there is one (so unsent '+ New chat's do not
 * pile up in the list), else a new one. `init.model` is the model a new one starts with; an empty
 * one without a model gets it too, one with a model keeps the model the user picked.
 */
export function newConversation(init: ConversationPatch = {}): Promise<ConversationSummary | null> {
  starting ??= startConversation(init).finally(() => (starting = null));
  return starting;
}

async function startConversation(init: ConversationPatch): Promise<ConversationSummary | null> {
  const empty = emptyConversation(chat());
  if (empty) {
    navigate('chat', empty.id);
    if (empty.model === null && init.model) await pickModel(empty.id, init.model);
    return chat().summaries[empty.id] ?? empty;
  }
  const r = await api().invoke('createConversation', init);
  if (!r.ok) {
    notify(`Could not start a conversation: ${r.error.message}`);
    return null;
  }
  // The event may come after the reply: the list shows it at once either way.
  chat().receive({ type: 'conversation', conversation: r.value });
  navigate('chat', r.value.id);
  return r.value;
}

/** Saves a change; returns the error message, or null when saved. */
export async function updateConversation(id: string, patch: ConversationPatch): Promise<string | null> {
  const r = await api().invoke('updateConversation', id, patch);
  if (!r.ok) return r.error.message;
  chat().receive({ type: 'conversation', conversation: r.value });
  return null;
}

export async function rename(id: string, title: string): Promise<void> {
  const error = await updateConversation(id, { title });
  if (error) notify(`Could not rename the conversation: ${error}`);
}

export async function pickModel(id: string, model: string): Promise<void> {
  const error = await updateConversation(id, { model });
  chat().setError(id, error ? `Could not switch the model: ${error}` : null);
}

/**
 * Saves the settings panel's unsaved changes, if any (its Save button, and every send first, so an
 * answer always uses what the panel shows). Returns null when nothing is left unsaved, else why;
 * the panel shows why too.
 */
export async function saveParamsEdit(id: string): Promise<string | null> {
  const edit = chat().paramsEdits[id];
  const summary = chat().summaries[id];
  if (!edit?.draft || !summary) return null;
  const draft = edit.draft;
  const todo = unsavedParams(edit, summary.params);
  if (todo && 'error' in todo) {
    chat().setParamsEdit(id, { draft, error: todo.error, field: todo.field, saved: false });
    return todo.error;
  }
  const error = todo ? await updateConversation(id, { params: todo.params }) : null;
  const now = chat().paramsEdits[id];
  // Closed meanwhile: no panel to update.
  if (now) {
    if (error) chat().setParamsEdit(id, { draft: now.draft, error, saved: false });
    // Fields typed while it saved stay unsaved.
    else chat().setParamsEdit(id, now.draft === draft ? { draft: null, error: null, saved: true } : now);
  }
  return error;
}

export async function removeConversation(id: string): Promise<void> {
  const r = await api().invoke('deleteConversation', id);
  if (!r.ok) {
    notify(`Could not delete the conversation: ${r.error.message}`);
    return;
  }
  chat().receive({ type: 'conversation-removed', id });
  // The open conversation was the one deleted: show the most recent one instead.
  if (location.hash === routeHref('chat', id)) navigate('chat');
}

export async function search(query: string): Promise<{ hits: ChatSearchHit[]; error: string | null }> {
  const r = await api().invoke('searchConversations', query);
  return r.ok ? { hits: r.value, error: null } : { hits: [], error: r.error.message };
}

/** Downloads the export under the file name the core gave. */
export async function exportConversation(id: string, format: ChatExportFormat): Promise<void> {
  const r = await api().invoke('exportConversation', id, format);
  if (!r.ok) {
    notify(`Could not export the conversation: ${r.error.message}`);
    return;
  }
  const url = URL.createObjectURL(new Blob([r.value.text], { type: r.value.mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = r.value.filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started by now; the object URL is only needed until then.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Asks the user to confirm the unloads a load would do (SendPlanDialog answers). */
function confirmUnloads(conversationId: string, model: string, plan: Plan): Promise<boolean> {
  return new Promise((resolve) => {
    chat().setConfirm({
      conversationId,
      model,
      plan,
      answer: (ok) => {
        chat().setConfirm(null);
        resolve(ok);
      },
    });
  });
}

/**
 * Sends a message. A model that is not loaded is loaded by the core (a user load); first its plan
 * is read here: a blocked load says why and sends nothing, and a load that would unload other
 * models asks first. Returns true when sent.
 */
export async function send(id: string, text: string): Promise<boolean> {
  const summary = chat().summaries[id];
  if (!summary) return false;
  const model = summary.model;
  if (!model) {
    chat().setError(id, 'Pick a model for this conversation first.');
    return false;
  }
  chat().setError(id, null);
  chat().setSending(id, true);
  try {
    // The settings on screen are the ones the answer uses: unsaved changes are saved first, and
    // a field that can't be saved stops the send (the text stays in the composer).
    const unsaved = await saveParamsEdit(id);
    if (unsaved) {
      chat().setError(id, `Not sent: the settings above could not be saved. ${unsaved}`);
      return false;
    }
    const row = useStore.getState().models[model];
    if (!row || row.state === 'unloaded' || row.state === 'failed' || row.state === 'stopping') {
      const plan = await api().invoke('plan', model);
      if (!plan.ok) {
        chat().setError(id, plan.error.message);
        return false;
      }
      if (!plan.value.ok) {
        chat().setError(id, `${model} can't be loaded now: ${plan.value.failure?.message ?? 'the load is blocked.'}`);
        return false;
      }
      if (plan.value.unloads.length > 0 && !(await confirmUnloads(id, model, plan.value))) return false;
    }
    const r = await api().invoke('sendMessage', id, text);
    if (!r.ok) {
      chat().setError(id, r.error.message);
      return false;
    }
    // Shown at once, whether the event or the reply comes first.
    chat().receive({ type: 'chat-message', conversationId: id, message: r.value });
    return true;
  } finally {
    chat().setSending(id, false);
  }
}

async function simple(id: string, what: string, run: () => Promise<Outcome<unknown>>): Promise<boolean> {
  chat().setError(id, null);
  const r = await run();
  if (!r.ok) chat().setError(id, `${what}: ${r.error.message}`);
  return r.ok;
}

export const stop = (id: string) => simple(id, 'Could not stop the answer', () => api().invoke('stopGeneration', id));

export const regenerate = (id: string) => simple(id, 'Could not regenerate the answer', () => api().invoke('regenerate', id));

export const editAndResend = (id: string, messageId: string, text: string) => simple(id, 'Could not resend the message', () => api().invoke('editMessage', id, messageId, text));
