/**
 * One message of a conversation, and the answer being generated. A finished message re-renders
 * only when it changes (memo); the streaming answer is the only component that subscribes to the
 * generation's text, so a token re-renders it alone.
 */
import { memo, useState } from 'react';
import type { ChatMessage } from '../../../../shared/chat';
import { useStore } from '../../store/store';
import { copyText } from '../../ui/clipboard';
import { formatDuration } from '../../ui/format';
import { StateBadge } from '../../ui/StateBadge';
import { editAndResend, regenerate } from './actions';
import { useChat } from './chatStore';
import { Markdown } from './Markdown';

function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <button
      type="button"
      className="msg-action"
      aria-label={label}
      onClick={() => {
        copyText(text).then(
          () => setState('copied'),
          () => setState('failed'),
        );
        setTimeout(() => setState('idle'), 1500);
      }}
    >
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : 'Copy'}
    </button>
  );
}

function Omitted({ count }: { count: number }) {
  if (count <= 0) return null;
  return (
    <p className="msg-note" data-testid="omitted">
      {count === 1 ? '1 earlier message was' : `${count} earlier messages were`} left out to fit the model's context.
    </p>
  );
}

/** "tiny · 128 tokens · first token 0.4 s · 310 tokens/s". */
function Stats({ message }: { message: ChatMessage }) {
  const s = message.stats;
  const parts: string[] = [];
  if (message.model) parts.push(message.model);
  if (s) {
    parts.push(`${s.tokens} token${s.tokens === 1 ? '' : 's'}`);
    if (s.ttftMs !== null) parts.push(`first token ${formatDuration(s.ttftMs)}`);
    if (s.tokensPerSecond !== null) parts.push(`${s.tokensPerSecond >= 100 ? Math.round(s.tokensPerSecond) : s.tokensPerSecond.toFixed(1)} tokens/s`);
  }
  return (
    <span className="msg-stats" data-testid="stats">
      {parts.join(' · ')}
      {message.finish === 'stopped' && <span className="badge warn">stopped</span>}
      {message.finish === 'length' && <span className="badge subtle">max tokens reached</span>}
    </span>
  );
}

function UserEditor({ conversationId, message, onDone }: { conversationId: string; message: ChatMessage; onDone: () => void }) {
  const [text, setText] = useState(message.content);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    if (!text.trim() || busy) return;
    setBusy(true);
    const ok = await editAndResend(conversationId, message.id, text);
    setBusy(false);
    if (ok) onDone();
  };
  return (
    <div className="msg-edit">
      <textarea
        aria-label="Edit your message"
        value={text}
        autoFocus
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            void submit();
          } else if (e.key === 'Escape') {
            e.preventDefault();
            onDone();
          }
        }}
      />
      <div className="msg-actions">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={busy || !text.trim()} onClick={() => void submit()}>
          Save and resend
        </button>
      </div>
      <p className="muted small">The answers after this message are replaced by a new one.</p>
    </div>
  );
}

interface MessageProps {
  conversationId: string;
  message: ChatMessage;
  /** Regenerate is offered on the last answer, when nothing is generating. */
  canRegenerate: boolean;
  /** Edit is offered when nothing is generating. */
  canEdit: boolean;
}

export const MessageView = memo(function MessageView({ conversationId, message, canRegenerate, canEdit }: MessageProps) {
  const [editing, setEditing] = useState(false);
  const user = message.role === 'user';
  return (
    <article className={`msg msg-${message.role}${message.finish === 'error' ? ' msg-failed' : ''}`} data-id={message.id} data-finish={message.finish} aria-label={user ? 'You' : `Answer from ${message.model ?? 'the model'}`}>
      <div className="msg-head">
        <span className="msg-who">{user ? 'You' : (message.model ?? 'Assistant')}</span>
      </div>
      {user && editing ? (
        <UserEditor conversationId={conversationId} message={message} onDone={() => setEditing(false)} />
      ) : user ? (
        <div className="msg-text">{message.content}</div>
      ) : message.content ? (
        <Markdown text={message.content} />
      ) : message.finish !== 'error' ? (
        <p className="muted">(no text)</p>
      ) : null}
      {message.error && (
        <div className="msg-error" role="alert" data-testid="message-error">
          {message.content ? 'The answer stopped: ' : ''}
          {message.error}
        </div>
      )}
      {!user && <Omitted count={message.omitted ?? 0} />}
      {!editing && (
        <div className="msg-foot">
          {!user && <Stats message={message} />}
          <span className="msg-actions">
            <CopyButton text={message.content} label={user ? 'Copy your message' : 'Copy the answer'} />
            {user && canEdit && (
              <button type="button" className="msg-action" onClick={() => setEditing(true)}>
                Edit
              </button>
            )}
            {canRegenerate && (
              <button type="button" className="msg-action" onClick={() => void regenerate(conversationId)}>
                Regenerate
              </button>
            )}
          </span>
        </div>
      )}
    </article>
  );
});

function LoadingModel({ model }: { model: string }) {
  const row = useStore((s) => s.models[model]);
  return (
    <div className="gen-phase" role="status" data-testid="gen-loading">
      <span>Loading {model}…</span>
      {row && <StateBadge row={row} />}
    </div>
  );
}

/** The answer being generated: load progress, then "waiting", then the text with a caret. */
export function StreamingMessage({ conversationId }: { conversationId: string }) {
  const g = useChat((s) => s.generations[conversationId]);
  if (!g) return null;
  return (
    <article className="msg msg-assistant msg-streaming" data-id={g.messageId} data-phase={g.phase} data-chars={g.text.length} aria-busy={!g.ended} aria-label={`Answer from ${g.model}, in progress`}>
      <div className="msg-head">
        <span className="msg-who">{g.model}</span>
      </div>
      {g.phase === 'loading' && !g.text ? (
        <LoadingModel model={g.model} />
      ) : g.phase === 'waiting' && !g.text ? (
        <div className="gen-phase" role="status" data-testid="gen-waiting">
          <span className="dots">Waiting for {g.model}</span>
        </div>
      ) : (
        <div className="streaming-text" data-testid="streaming">
          <Markdown text={g.text} streaming />
          <span className="caret" aria-hidden="true" />
        </div>
      )}
      <Omitted count={g.omitted} />
    </article>
  );
}
