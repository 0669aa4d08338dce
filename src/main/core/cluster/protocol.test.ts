/** The cluster's wire: name tokens (clarifications 7) and the checks on incoming messages. */
import { describe, expect, it } from 'vitest';
import { encode, inventoryKey, loadClaimKey, mergeNodeRecord, nameToken, nodeKey, nodeSubject, parseLoadRequest, parseNodeHeartbeat, parseNodeInventory, parseUnloadRequest, tokenToName, PROTOCOL_VERSION, type NodeHeartbeat, type NodeInventory } from './protocol';

describe('cluster protocol', () => {
  it('names become unpadded base64url tokens, valid in any key or subject, and back', () => {
    for (const name of ['w1', 'gpu box.lab', 'qwen/30b:q4*>', 'ünïcode', 'a'.repeat(200)]) {
      const t = nameToken(name);
      expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(tokenToName(t)).toBe(name);
    }
    expect(nodeKey('a.b')).toBe(`node.${nameToken('a.b')}`);
    expect(inventoryKey('a.b')).toBe(`inv.${nameToken('a.b')}`);
    expect(loadClaimKey('m>')).toBe(`load.${nameToken('m>')}`);
    expect(nodeSubject('w.1', 'load')).toBe(`loadout.node.${nameToken('w.1')}.load`);
    expect(nodeSubject('w.1', 'load').split('.')).toHaveLength(4);
  });

  it('malformed requests are refused with a reason, never thrown', () => {
    const bytes = (x: unknown) => (typeof x === 'string' ? new TextEncoder().encode(x) : encode(x));
    const bad: [unknown, RegExp][] = [
      ['{', /not JSON/],
      [[1], /not an object/],
      [{ v: 2, requestId: 'r' }, /unsupported message version 2/],
      [{ v: 1 }, /requestId/],
      [{ v: 1, requestId: 'r', frontend: 'f' }, /spec must be an object/],
      [{ v: 1, requestId: 'r', frontend: 'f', spec: { name: 'm', backend: 'b', file: { name: 'x.gguf', sizeBytes: 1, sha256: 'zz' } } }, /spec.file/],
      [{ v: 1, requestId: 'r', frontend: 'f', spec: { name: 'm', backend: 'b', file: { name: 'x.gguf', sizeBytes: -1, sha256: null } } }, /spec.file/],
      [{ v: 1, requestId: 'r', frontend: 'f', spec: { name: 'm', backend: 'b', file: { name: 'x.gguf', sizeBytes: 1.5, sha256: null } } }, /spec.file/],
      [{ v: 1, requestId: 'r', frontend: 'f', spec: { name: 'm', backend: 'b' }, protect: 'all' }, /protect/],
      [{ v: 1, requestId: 'r', frontend: 'f', spec: { name: 'm', backend: 'b' }, origin: 'root' }, /origin/],
    ];
    for (const [msg, why] of bad) {
      const r = parseLoadRequest(bytes(msg));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(why);
    }
    const good = parseLoadRequest(bytes({ v: 1, requestId: 'r', frontend: 'f', spec: { name: 'm', backend: 'b' } }));
    expect(good).toEqual({ ok: true, value: { v: 1, requestId: 'r', frontend: 'f', spec: { name: 'm', backend: 'b', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' } });
    expect(parseUnloadRequest(bytes({ v: 1, requestId: 'r', model: 'm', force: 'yes' }))).toMatchObject({ ok: false, error: /force/ });
    // A leader's unload carries its own journal sentence (D23: which rule trimmed the replica).
    expect(parseUnloadRequest(bytes({ v: 1, requestId: 'r', model: 'm', sentence: 7 }))).toMatchObject({ ok: false, error: /sentence/ });
    expect(parseUnloadRequest(bytes({ v: 1, requestId: 'r', model: 'm', sentence: 'x'.repeat(501) }))).toMatchObject({ ok: false, error: /sentence/ });
    expect(parseUnloadRequest(bytes({ v: 1, requestId: 'r', model: 'm', reason: 'scale_down', sentence: 'unloaded m on w2: above max_replicas 1' }))).toEqual({ ok: true, value: { v: 1, requestId: 'r', model: 'm', force: false, reason: 'scale_down', by: null, sentence: 'unloaded m on w2: above max_replicas 1' } });
    expect(parseUnloadRequest(bytes({ v: 1, requestId: 'r', model: 'm' }))).toEqual({ ok: true, value: { v: 1, requestId: 'r', model: 'm', force: false, reason: 'user', by: null } });
  });

  it('D5: a heartbeat or inventory of another protocol is incompatible and keeps only its name', () => {
    for (const parse of [parseNodeHeartbeat, parseNodeInventory]) {
      const r = parse(encode({ v: 1, name: 'old', protocol: PROTOCOL_VERSION + 1, token: 'x' }));
      expect(r).toEqual({ ok: false, error: expect.stringMatching(new RegExp(`speaks protocol ${PROTOCOL_VERSION + 1}`)), incompatible: { name: 'old', protocol: PROTOCOL_VERSION + 1 } });
      expect(parse(encode({ v: 1, name: 'half', protocol: PROTOCOL_VERSION }))).toMatchObject({ ok: false, error: /incarnation or seq missing/ });
    }
    expect(parseNodeInventory(encode({ v: 1, name: 'w', protocol: PROTOCOL_VERSION, incarnation: 'i', seq: 1, gateway: 'h:1', token: 't', tlsSha256: 's' }))).toMatchObject({ ok: false, error: /tlsCert missing/ });
  });

  it('a node record is its heartbeat with the inventory of the same incarnation, measured sizes from the heartbeat', () => {
    const heartbeat: NodeHeartbeat = { v: 1, name: 'w', incarnation: 'i2', protocol: PROTOCOL_VERSION, seq: 40, heartbeatMs: 2000, at: '', draining: false, memory: { total: 8, available: 4, budget: 6, models: 3, byModel: { a: 3 } }, gpus: [], stats: { inFlight: 1, queued: 0 } };
    const model = { name: 'a', state: 'ready' as const, backend: 'fault', inFlight: 1, queued: 0, lastUsed: null, memoryBytes: 2, pinned: false, groups: [], progress: null };
    const inventory: NodeInventory = { v: 1, name: 'w', incarnation: 'i2', protocol: PROTOCOL_VERSION, seq: 3, version: '1', gateway: 'h:1', tlsSha256: 's', tlsCert: 'c', token: 't', labels: {}, limits: { max_active_models: 0, memory_budget: 0, vram_budget: 0 }, files: [], models: [model] };
    expect(mergeNodeRecord(heartbeat, inventory)).toMatchObject({ seq: 40, inventorySeq: 3, gateway: 'h:1', models: [{ name: 'a', memoryBytes: 3 }], stats: { inFlight: 1 } });
    // An earlier incarnation's inventory says nothing about this one: no record until its own arrives.
    expect(mergeNodeRecord(heartbeat, { ...inventory, incarnation: 'i1' })).toBeNull();
    expect(mergeNodeRecord(heartbeat, null)).toBeNull();
  });
});
