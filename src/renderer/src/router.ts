/**
 * Hash routes (`#/models/<name>`, `#/logs/<name>`, `#/chat/<conversation id>`...): bookmarkable,
 * Back works, no server routes. `?window=chat` in the page URL is the chat window: chat only.
 */
import { useSyncExternalStore } from 'react';

export type View = 'models' | 'downloads' | 'chat' | 'lru' | 'groups' | 'activity' | 'logs' | 'settings' | 'api' | 'nodes';
export const VIEWS: { id: View; label: string; key: string }[] = [
  { id: 'models', label: 'Models', key: '1' },
  { id: 'downloads', label: 'Downloads', key: '9' },
  { id: 'chat', label: 'Chat', key: '8' },
  { id: 'lru', label: 'LRU', key: '2' },
  { id: 'nodes', label: 'Nodes', key: '0' },
  { id: 'groups', label: 'Groups', key: '3' },
  { id: 'activity', label: 'Activity', key: '4' },
  { id: 'logs', label: 'Logs', key: '5' },
  { id: 'settings', label: 'Settings', key: '6' },
  { id: 'api', label: 'API', key: '7' },
];

/** The navigation's views: Nodes only while the app is in a cluster. */
export function viewsFor(inCluster: boolean): typeof VIEWS {
  return inCluster ? VIEWS : VIEWS.filter((v) => v.id !== 'nodes');
}

export interface Route {
  view: View;
  /** The model the route names (details, log, activity filter) or, for chat, the conversation id; if any. */
  model: string | null;
}

export function parseRoute(hash: string): Route {
  const [view, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const known = VIEWS.some((v) => v.id === view) ? (view as View) : 'models';
  const model = rest.length > 0 && rest.join('/') !== '' ? decodeURIComponent(rest.join('/')) : null;
  return { view: known, model };
}

export function routeHref(view: View, model?: string | null): string {
  return `#/${view}${model ? `/${encodeURIComponent(model)}` : ''}`;
}

export function navigate(view: View, model?: string | null): void {
  location.hash = routeHref(view, model);
}

function subscribe(cb: () => void): () => void {
  window.addEventListener('hashchange', cb);
  return () => window.removeEventListener('hashchange', cb);
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, () => location.hash);
  return parseRoute(hash);
}

/** True in the chat window (`?window=chat`): the chat only, no navigation. */
export function isChatWindow(): boolean {
  return new URLSearchParams(location.search).get('window') === 'chat';
}
