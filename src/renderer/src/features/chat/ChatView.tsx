/**
 * The chat: conversations on the left, the open one on the right. The same view is the main
 * window's chat pane (`#/chat/<id>`) and the chat window (`?window=chat`); both fold the same core
 * events, so they show the same conversations and the same answer streaming.
 */
import { useState } from 'react';
import type { UnloadReason } from '../../../../shared/model';
import { Dialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { newConversation } from './actions';
import { useChat } from './chatStore';
import { ConversationList } from './ConversationList';
import { ConversationView } from './ConversationView';

const REASON: Partial<Record<UnloadReason, string>> = {
  group: 'shares a group',
  lru: 'least recently used',
  memory: 'memory budget',
};

/** Sending loads the model; when that would unload others, the user sees which and why, first. */
function SendPlanDialog() {
  const confirm = useChat((s) => s.confirm);
  if (!confirm) return null;
  const { model, plan, answer } = confirm;
  const n = plan.unloads.length;
  return (
    <Dialog
      title={`Load ${model} to answer?`}
      onClose={() => answer(false)}
      actions={
        <>
          <button type="button" onClick={() => answer(false)}>
            Cancel
          </button>
          <button type="button" className="primary" autoFocus onClick={() => answer(true)}>
            Unload {n} and send
          </button>
        </>
      }
    >
      <p>
        <strong>{model}</strong> is not loaded. Loading it will unload {n === 1 ? 'this model' : `these ${n} models`} first:
      </p>
      <ul className="plan-list" data-testid="plan-unloads">
        {plan.unloads.map((u) => (
          <li key={u.name} data-unload={u.name}>
            <strong>{u.name}</strong> <span className={`badge reason reason-${u.reason}`}>{REASON[u.reason] ?? u.reason}</span>
            <div className="muted">{u.sentence.replace(/^unloaded [^:]+: /, '')}</div>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}

function NoConversation() {
  const empty = useChat((s) => s.listReady && s.order.length === 0);
  return (
    <EmptyState title={empty ? 'No conversations yet — start one' : 'Pick a conversation'}>
      <p>{empty ? 'Chat with any model in your catalog; it is loaded when you send.' : 'Or start a new one.'}</p>
      <p>
        <button type="button" className="primary" onClick={() => void newConversation()}>
          + New chat
        </button>
      </p>
    </EmptyState>
  );
}

export function ChatView({ conversationId, windowMode = false }: { conversationId: string | null; windowMode?: boolean }) {
  // With no conversation in the route, the most recent one opens.
  const newest = useChat((s) => s.order[0] ?? null);
  const id = conversationId ?? newest;
  const [listOpen, setListOpen] = useState(false);
  return (
    <div
      className={`chat-view${windowMode ? ' chat-window' : ''}${listOpen ? ' list-open' : ''}`}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && listOpen) setListOpen(false);
      }}
    >
      <aside className="chat-side" aria-label="Conversations">
        <ConversationList current={id} onPicked={() => setListOpen(false)} />
      </aside>
      {listOpen && <button type="button" className="chat-backdrop" aria-label="Hide the conversations" onClick={() => setListOpen(false)} />}
      <div className="chat-main">{id ? <ConversationView key={id} id={id} onShowList={() => setListOpen((v) => !v)} /> : <NoConversation />}</div>
      <SendPlanDialog />
    </div>
  );
}
