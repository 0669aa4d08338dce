import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatEvent } from '../../../shared/chat';
import type { CatalogEntry } from '../catalog/types';
import { FakeClock } from '../clock';
import { ChatService } from './chatService';
import { ChatStore } from './chatStore';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Lets every queued promise callback run (no time passes on the fake clock). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A service whose model load never ends and ignores the abort: the worst case for shutdown. */
function stuckService(clock: FakeClock): { chats: ChatService; events: ChatEvent[] } {
  const dir = mkdtempSync(join(os.tmpdir(), 'loadout-chatservice-'));
  dirs.push(dir);
  const store = new ChatStore({ dir, notice: () => {}, now: () => clock.now() });
  store.open();
  const events: ChatEvent[] = [];
  const chats = new ChatService({
    store,
    emit: (e) => events.push(e),
    notice: () => {},
    catalog: () => ({ name: 'm' }) as CatalogEntry,
    row: () => {
      throw new Error('no row');
    },
    load: () => new Promise(() => {}),
    tokenize: async () => [],
    chat: async function* () {},
    clock,
  });
  return { chats, events };
}

describe('chat service on the injected clock', () => {
  it('dispose waits 5 s (fake time) for an answer that will not end, then lets the core close', async () => {
    const clock = new FakeClock();
    const { chats } = stuckService(clock);
    const c = chats.commands().createConversation({ model: 'm' });
    chats.commands().sendMessage(c.id, 'hello');
    expect(chats.commands().generations()).toHaveLength(1);

    let closed = false;
    void chats.dispose().then(() => (closed = true));
    await settle();
    clock.advance(4_999);
    await settle();
    expect(closed).toBe(false);
    clock.advance(1);
    await settle();
    expect(closed).toBe(true);
  });

  it('the user message is stamped with the clock\'s time', () => {
    const clock = new FakeClock(Date.UTC(2030, 4, 6, 7, 8, 9));
    const { chats } = stuckService(clock);
    const c = chats.commands().createConversation({ model: 'm' });
    expect(chats.commands().sendMessage(c.id, 'hi').at).toBe('2030-05-06T07:08:09.000Z');
  });
});
