/**
 * The three Hub calls the "Add model" flow needs (downloads-spec section 4): search, the file
 * list of a repository, and grouping its GGUF files by quantization. Plain GETs to `hf_endpoint`.
 */
import { request, type Dispatcher } from 'undici';
import type { HubFile, HubModel, QuantGroup } from '../../../shared/quants';
import { DownloadError } from './errors';

export { budgetOf, defaultQuant, fitOf, type Fit, type HubFile, type HubModel, type HubRepoFiles, type QuantGroup, type Room } from '../../../shared/quants';

export interface HubOptions {
  endpoint: string;
  token?: string;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
}

async function getJson<T>(url: string, opts: HubOptions): Promise<T> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      headers: { accept: 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
      dispatcher: opts.dispatcher,
      signal: opts.signal,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  } catch (e) {
    // G38: offline or unreachable: say so; pasting a URI still works.
    throw new DownloadError('upstream', `The Hub (${new URL(url).host}) cannot be reached: ${(e as Error).message}. Paste a model URI instead, or check hf_endpoint`, { retryable: true });
  }
  if (res.statusCode === 401 || res.statusCode === 403) {
    await res.body.dump();
    throw new DownloadError('upstream_auth', 'The Hub refused the request; set hf_token to a token with access');
  }
  if (res.statusCode === 404) {
    await res.body.dump();
    throw new DownloadError('not_found', `Not found on the Hub: ${new URL(url).pathname}`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new DownloadError('upstream', `The Hub answered ${res.statusCode}`, { retryable: res.statusCode === 429 || res.statusCode >= 500 });
  }
  return (await res.body.json()) as T;
}

const base = (opts: HubOptions) => opts.endpoint.replace(/\/+$/, '');

/** GGUF repositories matching `query`, most downloaded first (G38). */
export async function hubSearch(query: string, opts: HubOptions): Promise<HubModel[]> {
  const url = `${base(opts)}/api/models?search=${encodeURIComponent(query)}&filter=gguf&sort=downloads&direction=-1&limit=50`;
  const list = await getJson<{ id?: string; modelId?: string; downloads?: number }[]>(url, opts);
  return list.map((m) => ({ id: m.id ?? m.modelId ?? '', downloads: m.downloads ?? 0 })).filter((m) => m.id !== '');
}

/** Every file of a repository at a revision, with sizes and LFS sha256s. */
export async function hubFiles(repo: string, opts: HubOptions & { revision?: string }): Promise<HubFile[]> {
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo) || repo.split('/').some((p) => /^\.+$/.test(p))) throw new DownloadError('invalid', `"${repo}" is not a Hub repository (owner/name)`);
  const url = `${base(opts)}/api/models/${repo}/tree/${encodeURIComponent(opts.revision ?? 'main')}?recursive=true`;
  const tree = await getJson<{ type: string; path: string; size: number; lfs?: { oid: string; size: number } }[]>(url, opts);
  return tree.filter((e) => e.type === 'file').map((e) => ({ path: e.path, size: e.lfs?.size ?? e.size, sha256: e.lfs?.oid ?? null }));
}

const QUANT = /(?:^|[-_.])((?:I?Q\d(?:_[A-Z0-9]+)*)|F16|BF16|F32|MXFP4(?:_MOE)?)(?=[-_.])/i;
const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** GGUF files grouped by quantization, split parts summed (G39, G41), smallest first. */
export function groupByQuant(files: HubFile[]): QuantGroup[] {
  const groups = new Map<string, QuantGroup>();
  for (const f of files) {
    if (!f.path.toLowerCase().endsWith('.gguf')) continue;
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const mmproj = /mmproj/i.test(name);
    const stem = name.replace(SPLIT, '.gguf').replace(/\.gguf$/i, '');
    const quant = QUANT.exec(`${stem}.`)?.[1]?.toUpperCase() ?? stem;
    const key = `${mmproj ? 'mmproj:' : ''}${f.path.slice(0, f.path.length - name.length)}${quant}`;
    const g = groups.get(key) ?? { quant, files: [], sizeBytes: 0, mmproj };
    g.files.push(f);
    g.sizeBytes += f.size;
    groups.set(key, g);
  }
  for (const g of groups.values()) g.files.sort((a, b) => a.path.localeCompare(b.path));
  return [...groups.values()].sort((a, b) => Number(a.mmproj) - Number(b.mmproj) || a.sizeBytes - b.sizeBytes);
}
