/**
 * The window: navigation, the connection state, the current view and the plan dialog. The chat
 * window (`?window=chat`) is the chat alone: no navigation, no view keys.
 */
import { useEffect } from 'react';
import type { ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { ApiView } from './features/api/ApiView';
import { ActivityView } from './features/activity/ActivityView';
import { ChatView } from './features/chat/ChatView';
import { AddModelDialog } from './features/downloads/AddModelDialog';
import { DownloadsView } from './features/downloads/DownloadsView';
import { GroupsView } from './features/groups/GroupsView';
import { LogsView } from './features/logs/LogsView';
import { LruView } from './features/lru/LruView';
import { ModelsView } from './features/models/ModelsView';
import { PlanDialog } from './features/models/PlanDialog';
import { NodesView } from './features/nodes/NodesView';
import { SettingsView } from './features/settings/SettingsView';
import { isChatWindow, navigate, routeHref, useRoute, viewsFor } from './router';
import { slotInfo } from './store/selectors';
import { useStore } from './store/store';

function ConnectionBanner() {
  const c = useStore((s) => s.connection);
  if (c.status === 'open' || c.status === 'no-token') return null;
  if (c.status === 'connecting') return <div className="banner info" role="status">Connecting to Loadout…</div>;
  // Loadout runs but refuses this page's token (it was started with a new one): retrying is futile.
  if (c.status === 'token-refused') {
    return (
      <div className="banner error" role="alert" data-testid="link-out-of-date">
        This link is out of date: Loadout is running but no longer accepts this page&apos;s access token. Open the URL Loadout printed when it
        started (<code>Open http://127.0.0.1:…/?token=…</code>) and bookmark that one.
      </div>
    );
  }
  return (
    <div className="banner warn" role="alert" data-testid="disconnected">
      Disconnected from Loadout - reconnecting{c.retryInSeconds ? ` (next try in ${c.retryInSeconds} s)` : ''}… If it was stopped, start it again with{' '}
      <code>npm run serve</code>; this page picks up where it was.
    </div>
  );
}

/** Trust 1: the user's settings file is kept untouched, and they must know why nothing saves and the API is off. */
function SettingsProblemBanner() {
  const problem = useStore((s) => s.settingsProblem);
  if (!problem) return null;
  return (
    <div className="banner error" role="alert" data-testid="settings-problem">
      {problem}
    </div>
  );
}

function Notices() {
  const notices = useStore((s) => s.notices);
  const dismiss = useStore((s) => s.dismissNotice);
  if (notices.length === 0) return null;
  return (
    <div className="notices">
      {notices.map((n) => (
        <div key={n.id} className="banner error" role="alert">
          {n.text}{' '}
          <button type="button" className="link" onClick={() => dismiss(n.id)}>
            dismiss
          </button>
        </div>
      ))}
    </div>
  );
}

function Summary() {
  // Counts by the loader's states: a model still loading is shown as loading, never as loaded.
  const { loaded, loading, used, cap } = useStore(useShallow((s) => slotInfo(s.models, s.names, s.lru, s.settings)));
  const open = useStore((s) => s.connection.status === 'open');
  return (
    <a className="summary" href={routeHref('lru')} title="Loaded models and slots">
      <span className={`dot ${open ? 'on' : 'off'}`} aria-hidden="true" />
      {!open ? 'offline' : cap > 0 ? `${loaded} loaded · ${used} of ${cap} slots` : `${loaded} loaded`}
      {open && loading > 0 ? ` · ${loading} loading` : ''}
    </a>
  );
}

/** The view, or why the page could not start (then nothing else is worth showing). */
function UnlessStartFailed({ children }: { children: ReactNode }) {
  const startError = useStore((s) => s.startError);
  if (!startError) return children;
  return (
    <div className="banner error" role="alert">
      {startError}
    </div>
  );
}

/** The chat window: the chat and what the connection needs to say, nothing else. */
function ChatWindow({ conversationId }: { conversationId: string | null }) {
  useEffect(() => {
    document.title = 'Loadout chat';
  }, []);
  return (
    <div className="app">
      <ConnectionBanner />
      <SettingsProblemBanner />
      <Notices />
      <main id="main" tabIndex={-1}>
        <UnlessStartFailed>
          <ChatView conversationId={conversationId} windowMode />
        </UnlessStartFailed>
      </main>
    </div>
  );
}

export function App() {
  const route = useRoute();
  return isChatWindow() ? <ChatWindow conversationId={route.view === 'chat' ? route.model : null} /> : <MainWindow />;
}

function MainWindow() {
  const route = useRoute();
  const views = viewsFor(useStore((s) => s.cluster !== null));

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      if (typing || e.ctrlKey || e.metaKey || e.altKey || document.querySelector('dialog[open]')) return;
      const view = viewsFor(useStore.getState().cluster !== null).find((v) => v.key === e.key);
      if (view) {
        e.preventDefault();
        navigate(view.id);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Loadout</span>
        <nav aria-label="Views">
          {views.map((v) => (
            <a key={v.id} href={routeHref(v.id)} aria-current={route.view === v.id ? 'page' : undefined} title={`${v.label} (key ${v.key})`}>
              {v.label}
            </a>
          ))}
        </nav>
        <Summary />
      </header>
      <ConnectionBanner />
      <SettingsProblemBanner />
      <Notices />
      <main id="main" tabIndex={-1}>
        <UnlessStartFailed>
          {route.view === 'models' ? (
            <ModelsView selected={route.model} />
          ) : route.view === 'downloads' ? (
            <DownloadsView />
          ) : route.view === 'chat' ? (
            <ChatView conversationId={route.model} />
          ) : route.view === 'lru' ? (
            <LruView />
          ) : route.view === 'nodes' ? (
            <NodesView />
          ) : route.view === 'groups' ? (
            <GroupsView />
          ) : route.view === 'activity' ? (
            <ActivityView model={route.model} />
          ) : route.view === 'logs' ? (
            <LogsView model={route.model} />
          ) : route.view === 'api' ? (
            <ApiView />
          ) : (
            <SettingsView />
          )}
        </UnlessStartFailed>
      </main>
      <PlanDialog />
      <AddModelDialog />
    </div>
  );
}
