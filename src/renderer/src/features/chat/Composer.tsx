/**
 * Where the user writes: Enter sends, Shift+Enter is a new line. Its text is its own state (a
 * keystroke re-renders this component only, never the messages), kept per conversation while the
 * user switches between them. While an answer is generated the button stops it.
 */
import { useEffect, useRef, useState } from 'react';
import { send, stop } from './actions';
import { useChat } from './chatStore';

/** Unsent text per conversation, for the life of the page. */
const drafts = new Map<string, string>();

export function Composer({ conversationId, hasModel }: { conversationId: string; hasModel: boolean }) {
  const [text, setText] = useState(() => drafts.get(conversationId) ?? '');
  const sending = useChat((s) => s.sending[conversationId] === true);
  const generating = useChat((s) => {
    const g = s.generations[conversationId];
    return g !== undefined && !g.ended;
  });
  const [stopping, setStopping] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (!generating) setStopping(false);
  }, [generating]);

  const update = (value: string) => {
    setText(value);
    if (value) drafts.set(conversationId, value);
    else drafts.delete(conversationId);
  };

  const canSend = hasModel && !sending && !generating && text.trim() !== '';
  const submit = async () => {
    if (!canSend) return;
    if (await send(conversationId, text)) {
      update('');
      area.current?.focus();
    }
  };

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <textarea
        ref={area}
        className="composer-input"
        aria-label="Message"
        placeholder={hasModel ? 'Write a message… (Enter sends, Shift+Enter for a new line)' : 'Pick a model above to start'}
        value={text}
        readOnly={sending}
        aria-busy={sending}
        rows={1}
        autoFocus
        onChange={(e) => update(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            void submit();
          }
        }}
      />
      {generating ? (
        <button
          type="button"
          className="danger"
          disabled={stopping}
          onClick={() => {
            setStopping(true);
            void stop(conversationId).then((ok) => ok || setStopping(false));
          }}
        >
          {stopping ? 'Stopping…' : 'Stop'}
        </button>
      ) : (
        <button type="submit" className="primary" disabled={!canSend} aria-busy={sending}>
          {sending ? 'Sending…' : 'Send'}
        </button>
      )}
    </form>
  );
}
