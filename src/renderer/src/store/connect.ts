/**
 * The one subscription: core events and connection changes go into the stores (chat events into
 * the chat's own, see features/chat/chatStore.ts), and each (re)connect reloads the snapshot, the
 * journal, the API request log, the server status, the conversation list and the answers being
 * generated (events sent while the page was away are not replayed).
 */
import type { LoadoutClient } from '../api/client';
import { resyncChat } from '../features/chat/actions';
import { receiveChatEvent } from '../features/chat/chatStore';
import { isChatEvent } from '../features/chat/chatState';
import { useStore } from './store';

let current: LoadoutClient | null = null;

/** The page's client, for actions (set once by `connectStore`). */
export function api(): LoadoutClient {
  if (!current) throw new Error('the store is not connected to Loadout yet');
  return current;
}

export async function resync(client: LoadoutClient): Promise<void> {
  const s = useStore.getState();
  const [snap, journal, requests, server] = await Promise.all([client.invoke('snapshot'), client.invoke('journal'), client.invoke('requestLog'), client.invoke('serverStatus')]);
  if (!snap.ok) {
    s.setStartError(snap.error.message);
    return;
  }
  s.setStartError(null);
  s.receiveSnapshot(snap.value);
  if (journal.ok) s.receiveJournal(journal.value);
  else s.notify(`Could not read the activity journal: ${journal.error.message}`);
  if (requests.ok) s.receiveRequests(requests.value);
  else s.notify(`Could not read the API request log: ${requests.error.message}`);
  if (server.ok) s.receiveServer(server.value);
  else s.notify(`Could not read the API server status: ${server.error.message}`);
}

/** Feeds the store from the client; returns the unsubscribe. */
export function connectStore(client: LoadoutClient): () => void {
  current = client;
  const s = useStore.getState();
  const offEvents = client.onEvent((event) => {
    if (isChatEvent(event)) receiveChatEvent(event);
    else useStore.getState().receiveEvent(event);
  });
  const offConnection = client.onConnection((c) => {
    useStore.getState().setConnection(c);
    if (c.status === 'open') {
      void resync(client);
      void resyncChat(client);
    }
  });
  if (client.connection().status === 'no-token') s.setStartError('This page was opened without its access token. Open the exact URL Loadout printed when it started ("Open http://127.0.0.1:.../?token=...").');
  return () => {
    offEvents();
    offConnection();
    current = null;
  };
}
