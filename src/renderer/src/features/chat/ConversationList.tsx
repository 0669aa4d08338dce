/**
 * The conversations, most recent first: start one, rename inline, delete (after a confirm), and
 * search their text (a hit opens the conversation at the message).
 */
import { memo, useEffect, useRef, useState } from 'react';
import type { ChatSearchHit } from '../../../../shared/chat';
import { routeHref, navigate } from '../../router';
import { Dialog } from '../../ui/Dialog';
import { formatAgo } from '../../ui/format';
import { useNow } from '../../ui/useNow';
import { newConversation, removeConversation, rename, search } from './actions';
import { useChat } from './chatStore';

/** Icons drawn inline (no icon font, nothing to load). */
const PencilIcon = () => (
  <svg width="14" height="14" viewBox="0 0 16 16" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round">
    <path d="M11 2.5l2.5 2.5L6 12.5 3 13l.5-3z" />
  </svg>
);
const TrashIcon = () => (
  <svg width="14" height="14" viewBox="0 0 16 16" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round">
    <path d="M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.7 8.5h5.6l.7-8.5M7 7v4M9 7v4" />
  </svg>
);

function RenameInput({ id, title, onDone }: { id: string; title: string; onDone: () => void }) {
  const [value, setValue] = useState(title);
  const commit = () => {
    const t = value.trim();
    onDone();
    if (t && t !== title) void rename(id, t);
  };
  return (
    <input
      className="conv-rename"
      aria-label="New name of the conversation"
      value={value}
      autoFocus
      onFocus={(e) => e.target.select()}
      onChange={(e) => setValue(e.target.value)}
      onBlur={commit}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          commit();
        } else if (e.key === 'Escape') {
          e.preventDefault();
          onDone();
        }
      }}
    />
  );
}

const ConversationItem = memo(function ConversationItem({ id, current, onDelete }: { id: string; current: boolean; onDelete: (id: string) => void }) {
  const c = useChat((s) => s.summaries[id]);
  const generating = useChat((s) => s.generations[id] !== undefined && !s.generations[id].ended);
  const now = useNow();
  const [renaming, setRenaming] = useState(false);
  if (!c) return null;
  return (
    <li className={`conv-item${current ? ' current' : ''}`} data-conversation={id}>
      {renaming ? (
        <RenameInput id={id} title={c.title} onDone={() => setRenaming(false)} />
      ) : (
        <a href={routeHref('chat', id)} className="conv-link" aria-current={current ? 'page' : undefined} onDoubleClick={() => setRenaming(true)}>
          <span className="conv-title">{c.title || 'New conversation'}</span>
          <span className="conv-meta">
            {generating && <span className="badge state-busy">answering</span>}
            {c.model ?? 'no model'} · {c.messageCount} message{c.messageCount === 1 ? '' : 's'} · {formatAgo(c.updatedAt, now)}
          </span>
        </a>
      )}
      {!renaming && (
        <span className="conv-actions">
          <button type="button" className="icon" aria-label={`Rename ${c.title}`} title="Rename" onClick={() => setRenaming(true)}>
            <PencilIcon />
          </button>
          <button type="button" className="icon danger" aria-label={`Delete ${c.title}`} title="Delete" onClick={() => onDelete(id)}>
            <TrashIcon />
          </button>
        </span>
      )}
    </li>
  );
});

function DeleteDialog({ id, onClose }: { id: string; onClose: () => void }) {
  const c = useChat((s) => s.summaries[id]);
  if (!c) return null;
  return (
    <Dialog
      title={`Delete “${c.title}”?`}
      tone="danger"
      onClose={onClose}
      actions={
        <>
          <button type="button" autoFocus onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            onClick={() => {
              onClose();
              void removeConversation(id);
            }}
          >
            Delete
          </button>
        </>
      }
    >
      <p>
        Its {c.messageCount} message{c.messageCount === 1 ? '' : 's'} are deleted from disk. This can't be undone; export it first to keep a copy.
      </p>
    </Dialog>
  );
}

function SearchResults({ query, onPick }: { query: string; onPick: () => void }) {
  const [result, setResult] = useState<{ query: string; hits: ChatSearchHit[]; error: string | null } | null>(null);
  useEffect(() => {
    let live = true;
    // Typing pauses before the search runs: one request per pause, not per key.
    const timer = setTimeout(() => {
      void search(query).then((r) => live && setResult({ query, ...r }));
    }, 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [query]);
  if (!result || result.query !== query) return <p className="muted pad" role="status">Searching…</p>;
  if (result.error) return <p className="error pad" role="alert">{result.error}</p>;
  if (result.hits.length === 0) return <p className="muted pad" role="status">Nothing matches “{query}”.</p>;
  return (
    <ul className="conv-list" aria-label="Search results">
      {result.hits.map((h, k) => (
        <li key={`${h.conversationId}/${h.messageId ?? ''}/${k}`} className="conv-item hit">
          <a
            href={routeHref('chat', h.conversationId)}
            className="conv-link"
            onClick={(e) => {
              e.preventDefault();
              navigate('chat', h.conversationId);
              if (h.messageId) useChat.getState().jumpTo(h.conversationId, h.messageId);
              onPick();
            }}
          >
            <span className="conv-title">{h.title}</span>
            <span className="hit-snippet">{h.snippet}</span>
          </a>
        </li>
      ))}
    </ul>
  );
}

export function ConversationList({ current, onPicked }: { current: string | null; onPicked?: () => void }) {
  const order = useChat((s) => s.order);
  const ready = useChat((s) => s.listReady);
  const listError = useChat((s) => s.listError);
  const currentModel = useChat((s) => (current ? (s.summaries[current]?.model ?? null) : null));
  const [query, setQuery] = useState('');
  const [deleting, setDeleting] = useState<string | null>(null);
  const searchBox = useRef<HTMLInputElement>(null);

  return (
    <div className="conv-pane">
      <div className="conv-tools">
        <button type="button" className="primary" onClick={() => void newConversation(currentModel ? { model: currentModel } : {}).then((c) => c && onPicked?.())}>
          + New chat
        </button>
        <input
          ref={searchBox}
          type="search"
          className="conv-search"
          placeholder="Search chats"
          aria-label="Search conversations"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') setQuery('');
          }}
        />
      </div>
      {query.trim() ? (
        <SearchResults
          query={query.trim()}
          onPick={() => {
            onPicked?.();
          }}
        />
      ) : listError ? (
        <p className="error pad" role="alert">
          Could not read the conversations: {listError}
        </p>
      ) : !ready ? (
        <p className="muted pad" role="status">
          Loading…
        </p>
      ) : order.length === 0 ? (
        <p className="muted pad">No conversations yet.</p>
      ) : (
        <ul className="conv-list" aria-label="Conversations" onClick={(e) => (e.target as HTMLElement).closest('a') && onPicked?.()}>
          {order.map((id) => (
            <ConversationItem key={id} id={id} current={id === current} onDelete={setDeleting} />
          ))}
        </ul>
      )}
      {deleting && <DeleteDialog id={deleting} onClose={() => setDeleting(null)} />}
    </div>
  );
}
