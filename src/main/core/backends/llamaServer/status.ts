/** What Settings > Backends shows about llama-server (Engine 1), probed once per binary version. */
import { statSync } from 'node:fs';
import type { LlamaServerStatus } from '../../../../shared/model';
import { isFasterThanBuiltin, locateLlamaServer, probeLlamaServer, type LlamaServerInfo, type LocateOptions } from './locate';

export class LlamaServerStatusCache {
  private cached: { key: string; info: LlamaServerInfo | null } | null = null;

  constructor(
    private readonly locate: () => LocateOptions,
    /** Whether the built-in engine would run on a GPU (null: not known yet). */
    private readonly builtinUsesGpu: () => boolean | null,
  ) {}

  async status(): Promise<LlamaServerStatus> {
    const where = locateLlamaServer(this.locate());
    if (!where.found) return { path: null, source: null, version: null, devices: [], faster: false, why: where.why };
    const { path } = where.found;
    let key = path;
    try {
      const st = statSync(path);
      key = `${path}:${st.size}:${st.mtimeMs}`;
    } catch {
      // probed below; it fails the same way
    }
    if (this.cached?.key !== key) this.cached = { key, info: await probeLlamaServer(where.found) };
    const info = this.cached.info;
    if (!info) return { path, source: where.found.source, version: null, devices: [], faster: false, why: `${path} did not run (\`llama-server --version\` failed)` };
    return { path, source: info.source, version: info.version, devices: info.devices, faster: isFasterThanBuiltin(info, this.builtinUsesGpu()), why: null };
  }
}
