/**
 * Where the user writes: Enter sends, Shift+Enter is a new line. Its text is its own state (a
 * keystroke re-renders this component only, never the messages), kept per conversation while the
 * user switches between them. While an answer is generated the button stops it.
 */
import { useEffect, useRef, useState } from 'react';
import { useStore } from '../../store/store';
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
  const online = useStore((s) => s.connection.status === 'open');
  const [stopping, setStopping] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (!generating) setStopping(false);
  }, [generating]);

  const stopAnswer = () => {
    setStopping(true);
    void stop(conversationId).then((ok) => ok || setStopping(false));
  };

  // Esc stops the answer from anywhere on the page, unless something open (a dialog, a menu) took it.
  useEffect(() => {
    if (!generating) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented || document.querySelector('[role="dialog"], [role="listbox"]')) return;
      e.preventDefault();
      stopAnswer();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  const update = (value: string) => {
    setText(value);
    if (value) drafts.set(conversationId, value);
    else drafts.delete(conversationId);
  };

  const canSend = online && hasModel && !sending && !generating && text.trim() !== '';
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
        placeholder={!online ? 'Reconnecting… (you can write; sending waits for Loadout)' : hasModel ? 'Write a message… (Enter sends, Shift+Enter for a new line)' : 'Pick a model above to start'}
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
          onClick={stopAnswer}
          title="Stop the answer (Esc)"
        >
          {stopping ? 'Stopping…' : 'Stop'}
        </button>
      ) : (
        <button type="submit" className="primary" disabled={!canSend} aria-busy={sending}>
          {!online ? 'Reconnecting…' : sending ? 'Sending…' : 'Send'}
        </button>
      )}
    </form>
  );
}
