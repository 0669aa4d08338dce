import { statSync } from 'node:fs';
import { createBackendClient } from '../grpc/client';

/** Settings > Backends "test connection": a program must be executable; an address must answer Health. */
export async function testBackendTarget(target: string): Promise<{ ok: boolean; message: string }> {
  if (/^[^/\\\s]+:\d+$/.test(target)) {
    const client = createBackendClient(target);
    try {
      const reply = await client.health({ timeoutMs: 3000 });
      const text = reply.message.toString('utf8');
      return { ok: true, message: `${target} answered Health: ${text || '(empty)'}` };
    } catch (e) {
      return { ok: false, message: `${target} did not answer: ${(e as Error).message}` };
    } finally {
      client.close();
    }
  }
  try {
    const st = statSync(target);
    if (!st.isFile()) return { ok: false, message: `${target} is not a file` };
    return { ok: true, message: `${target} exists; it is started as "${target} --addr 127.0.0.1:<port>" on the next load` };
  } catch {
    return { ok: false, message: `${target} does not exist` };
  }
}
