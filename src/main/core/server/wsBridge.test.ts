/**
 * The headless WebSocket bridge (issue: GUI, item 4) against a real core and a real fault backend:
 * refusals happen before any socket opens, the contract works over the wire, events are pushed,
 * malformed frames get an error reply, and the page's client reconnects after a drop.
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { CoreEvent } from '../../../shared/model';
import type { WireServerMessage } from '../../../shared/wire';
import { socketClient } from '../../../renderer/src/api/client';
import type { Connection } from '../../../renderer/src/api/client';
import { disposeAll, faultModel, startTestCore, waitUntil } from '../../../../test/harness';
import { startHttpServer } from './httpServer';
import type { HttpServerHandle } from './httpServer';

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
});

async function start() {
  const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_load_ms:50'] }) } });
  const server = await startHttpServer(t.core, { port: 0 });
  servers.push(server);
  const origin = `http://127.0.0.1:${server.port}`;
  const wsUrl = `ws://127.0.0.1:${server.port}/ws?token=${server.token}`;
  return { t, server, origin, wsUrl };
}

/** The status line of an upgrade attempt (no WebSocket library: we want to see the refusal itself). */
function upgradeStatus(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers } });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A browser-like client: the page sends its Origin. */
function withOrigin(origin: string): typeof globalThis.WebSocket {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { origin });
    }
  } as unknown as typeof globalThis.WebSocket;
}

function open(url: string, origin: string): Promise<{ ws: WebSocket; messages: WireServerMessage[] }> {
  const ws = new WebSocket(url, { origin });
  const messages: WireServerMessage[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as WireServerMessage));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('error', reject);
  });
}

describe('WebSocket bridge', () => {
  it('refuses a wrong or missing token (401), a foreign or missing Origin (403) and a foreign Host (403) before any socket opens', async () => {
    const { server, origin } = await start();
    const ok = { origin, host: `127.0.0.1:${server.port}` };
    expect(await upgradeStatus(server.port, '/ws', ok)).toBe(401);
    expect(await upgradeStatus(server.port, '/ws?token=nope', ok)).toBe(401);
    expect(await upgradeStatus(server.port, `/ws?token=${server.token}`, { ...ok, origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(server.port, `/ws?token=${server.token}`, { host: ok.host })).toBe(403);
    expect(await upgradeStatus(server.port, `/ws?token=${server.token}`, { ...ok, origin: `http://127.0.0.1:${server.port + 1}` })).toBe(403);
    expect(await upgradeStatus(server.port, `/ws?token=${server.token}`, { ...ok, host: `evil.example:${server.port}` })).toBe(403);
    expect(await upgradeStatus(server.port, `/ws?token=${server.token}`, ok)).toBe(101);
    expect(await upgradeStatus(server.port, `/ws?token=${server.token}`, { ...ok, origin: `http://localhost:${server.port}` })).toBe(101);
  });

  it('E1: the contract over the wire: snapshot, a load with its state events pushed, errors as data', async () => {
    const { t, origin, wsUrl } = await start();
    const client = socketClient({ url: wsUrl, WebSocketImpl: withOrigin(origin) });
    try {
      const events: CoreEvent[] = [];
      client.onEvent((e) => events.push(e));
      const snap = await client.invoke('snapshot');
      expect(snap.ok && snap.value.models.map((m) => m.name)).toEqual(['a']);
      const loaded = await client.invoke('load', 'a');
      expect(loaded.ok && loaded.value.state).toBe('ready');
      const states = events.flatMap((e) => (e.type === 'model' && e.row.name === 'a' ? [e.row.state] : []));
      expect(states).toEqual(expect.arrayContaining(['starting', 'loading', 'ready']));
      const missing = await client.invoke('load', 'nope');
      expect(missing).toEqual({ ok: false, error: expect.objectContaining({ code: 'not_found', message: expect.stringContaining('nope') }) });
      expect(t.row('a').state).toBe('ready');
    } finally {
      client.dispose();
    }
  });

  it('a malformed frame gets an error reply and the socket keeps working; closing unsubscribes from core events', async () => {
    const { t, origin, wsUrl } = await start();
    const listenersBefore = t.core.events.size;
    const { ws, messages } = await open(wsUrl, origin);
    expect(t.core.events.size).toBe(listenersBefore + 1);
    ws.send('not json');
    ws.send(JSON.stringify({ id: 1, name: 'bogus', args: [] }));
    ws.send(JSON.stringify({ id: 2, name: 'snapshot', args: 'x' }));
    ws.send(JSON.stringify([1, 2]));
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    ws.send(JSON.stringify({ id: 3, name: 'settings', args: [] }));
    const replies = await waitUntil(() => (messages.length >= 6 ? messages : null), 'six replies');
    // Replies to calls come when each call finishes, so compare them as a set.
    const got = replies.map((m) => ('id' in m ? `${m.id}:${m.outcome.ok}` : 'event'));
    expect(got.sort()).toEqual(['1:false', '2:false', '3:true', 'null:false', 'null:false', 'null:false']);
    expect(JSON.stringify(replies)).toContain('unknown command');
    expect(JSON.stringify(replies)).toContain('the message is not JSON');
    const closed = new Promise((r) => ws.once('close', r));
    ws.close();
    await closed;
    await waitUntil(() => t.core.events.size === listenersBefore, 'the bridge to unsubscribe');
  });

  it('closing the server closes every page socket', async () => {
    const { server, origin, wsUrl } = await start();
    const { ws } = await open(wsUrl, origin);
    const code = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    await server.close();
    servers.length = 0;
    expect(await code).toBe(1001);
  });
});

describe('the page client', () => {
  it('shows "reconnecting" after a drop, fails the call that was in flight with a message, then reconnects', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as AddressInfo).port;
    let sockets = 0;
    wss.on('connection', (ws) => {
      sockets += 1;
      ws.on('message', (d) => {
        const call = JSON.parse(d.toString()) as { id: number; name: string };
        // The first connection drops instead of answering; later ones answer.
        if (sockets === 1) ws.terminate();
        else ws.send(JSON.stringify({ id: call.id, outcome: { ok: true, value: call.name } }));
      });
    });
    const seen: Connection['status'][] = [];
    const client = socketClient({ url: `ws://127.0.0.1:${port}/ws`, WebSocketImpl: WebSocket as unknown as typeof globalThis.WebSocket });
    client.onConnection((c) => seen.push(c.status));
    try {
      const lost = await client.invoke('settings');
      expect(lost.ok).toBe(false);
      expect(!lost.ok && lost.error.message).toMatch(/connection to Loadout dropped/);
      await waitUntil(() => client.connection().status === 'open' && sockets === 2, 'the reconnect');
      expect(client.connection().drops).toBe(1);
      expect(seen).toEqual(['connecting', 'open', 'reconnecting', 'open']);
      expect(await client.invoke('settings')).toEqual({ ok: true, value: 'settings' });
    } finally {
      client.dispose();
      await new Promise((r) => wss.close(r));
    }
  });
});
