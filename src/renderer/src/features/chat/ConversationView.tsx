/**
 * One conversation: its header (title, model, settings, export), its messages (virtualised, the
 * answer in progress last) and the composer.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ChatExportFormat } from '../../../../shared/chat';
import { EmptyState } from '../../ui/EmptyState';
import { exportConversation, fetchConversation } from './actions';
import { NO_MESSAGES, useChat } from './chatStore';
import { Composer } from './Composer';
import { estimateHeight } from './layout';
import { MessageList } from './MessageList';
import { MessageView, StreamingMessage } from './MessageView';
import { ModelPicker } from './ModelPicker';
import { ParamsPanel } from './ParamsPanel';

function ExportMenu({ id }: { id: string }) {
  const [busy, setBusy] = useState(false);
  const run = (format: ChatExportFormat) => {
    setBusy(true);
    void exportConversation(id, format).finally(() => setBusy(false));
  };
  return (
    <div className="segmented" role="group" aria-label="Export">
      <button type="button" disabled={busy} onClick={() => run('markdown')} title="Download the conversation as a Markdown file">
        Export .md
      </button>
      <button type="button" disabled={busy} onClick={() => run('json')} title="Download the conversation as a JSON file">
        .json
      </button>
    </div>
  );
}

function ErrorLine({ id }: { id: string }) {
  const error = useChat((s) => s.errors[id]);
  const setError = useChat((s) => s.setError);
  if (!error) return null;
  return (
    <div className="chat-error" role="alert" data-testid="chat-error">
      <span>{error}</span>
      <button type="button" className="link" onClick={() => setError(id, null)}>
        dismiss
      </button>
    </div>
  );
}

function Messages({ id }: { id: string }) {
  const messages = useChat((s) => s.messages[id] ?? NO_MESSAGES);
  const genId = useChat((s) => s.generations[id]?.messageId ?? null);
  const generating = useChat((s) => s.generations[id] !== undefined && !s.generations[id].ended);
  const jump = useChat((s) => (s.jump?.conversationId === id ? s.jump.messageId : null));
  const clearJump = useChat((s) => s.clearJump);
  const scroller = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);

  useEffect(() => {
    const el = scroller.current;
    if (el) setWidth(el.clientWidth);
  }, []);

  // The streaming answer's row is keyed by the id its message will have: no remount, no jump when it lands.
  const keys = useMemo(() => {
    const ids = messages.map((m) => m.id);
    if (genId && !ids.includes(genId)) ids.push(genId);
    return ids;
  }, [messages, genId]);

  const estimate = useCallback((i: number) => (i < messages.length ? estimateHeight(messages[i].content.length, width) : 120), [messages, width]);

  // The last answer may be regenerated; any user message edited (when nothing is generating).
  let lastAnswer = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'assistant') {
      lastAnswer = i;
      break;
    }
  }
  const renderItem = useCallback(
    (key: string, index: number) =>
      index < messages.length ? (
        <MessageView conversationId={id} message={messages[index]} canRegenerate={!generating && index === lastAnswer && index === messages.length - 1} canEdit={!generating} />
      ) : (
        <StreamingMessage conversationId={id} />
      ),
    [id, messages, generating, lastAnswer],
  );

  if (keys.length === 0) {
    return (
      <div className="msg-empty" ref={scroller}>
        <p className="muted">No messages yet. Say something below to start.</p>
      </div>
    );
  }
  return (
    <div className="msg-pane" ref={scroller}>
      <MessageList keys={keys} estimate={estimate} renderItem={renderItem} jump={jump} onJumped={clearJump} label="Messages" />
    </div>
  );
}

export function ConversationView({ id, onShowList }: { id: string; onShowList?: () => void }) {
  const summary = useChat((s) => s.summaries[id]);
  const loaded = useChat((s) => s.messages[id] !== undefined);
  const loadError = useChat((s) => s.loadErrors[id]);
  const listReady = useChat((s) => s.listReady);
  const [showParams, setShowParams] = useState(false);

  useEffect(() => {
    if (summary && !loaded && !loadError) void fetchConversation(id);
  }, [id, summary, loaded, loadError]);

  if (!summary) {
    return listReady ? (
      <EmptyState title="This conversation is gone">
        <p>It was deleted, perhaps from another window. Pick another one or start a new one.</p>
      </EmptyState>
    ) : (
      <p className="muted pad" role="status">
        Loading…
      </p>
    );
  }
  return (
    <section className="conversation" aria-label={`Conversation: ${summary.title}`}>
      <header className="conv-head">
        {onShowList && (
          <button type="button" className="conv-toggle" onClick={onShowList} aria-label="Show the conversations">
            ☰
          </button>
        )}
        <h1 className="conv-heading" title={summary.title}>
          {summary.title || 'New conversation'}
        </h1>
        <ModelPicker conversationId={id} model={summary.model} />
        <button type="button" aria-expanded={showParams} aria-controls="conv-params" title="This conversation's system prompt and sampling settings" onClick={() => setShowParams((v) => !v)}>
          Settings
        </button>
        <ExportMenu id={id} />
      </header>
      {showParams && (
        <div id="conv-params">
          <ParamsPanel conversationId={id} model={summary.model} params={summary.params} onClose={() => setShowParams(false)} />
        </div>
      )}
      {!summary.model && (
        <div className="callout" role="note">
          <strong>Pick a model</strong> for this conversation with the button above: it is loaded when you send (Loadout asks first if that would unload another model).
        </div>
      )}
      {loadError ? (
        <div className="banner error" role="alert">
          Could not read this conversation: {loadError}{' '}
          <button type="button" className="link" onClick={() => useChat.getState().setLoadError(id, null)}>
            try again
          </button>
        </div>
      ) : loaded ? (
        <Messages id={id} />
      ) : (
        <p className="muted pad msg-pane" role="status">
          Loading messages…
        </p>
      )}
      <ErrorLine id={id} />
      <Composer key={id} conversationId={id} hasModel={summary.model !== null} />
    </section>
  );
}
