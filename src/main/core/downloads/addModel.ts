/**
 * "Add model" (G40): the model's LocalAI YAML is written first, so its row appears at once (as
 * `not_downloaded`, with its download's progress) and LocalAI can read the same file; then one
 * job per file starts. An existing config or model name is never overwritten.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { NewModel } from '../../../shared/contract';
import { LoadoutError } from '../../../shared/errors';
import type { DownloadJob } from '../../../shared/model';
import type { CatalogEntry } from '../catalog/types';
import { writeFileAtomic } from '../fsx/writeFileAtomic';
import type { DownloadEngine } from './engine';
import { parseModelUri } from './uri';

export interface AddModelOptions {
  modelsDir: string;
  engine: DownloadEngine;
  catalog: { get(name: string): CatalogEntry | undefined; scan(): Promise<unknown> };
}

/** A file name for the config from the model's name: letters, digits, `.`, `_` and `-`; never hidden. */
export function configFileName(name: string): string {
  const stem = name.replace(/[^\w.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 200) || 'model';
  return `${stem}.yaml`;
}

/** The YAML text: name, `parameters.model` (the first file) and LocalAI's `download_files` (with sha256 when known). */
export function modelYaml(name: string, files: { filename: string; uri: string; sha256?: string }[]): string {
  const download_files = files.map((f) => ({ filename: f.filename, uri: f.uri, ...(f.sha256 ? { sha256: f.sha256.toLowerCase() } : {}) }));
  return stringify({ name, parameters: { model: files[0].uri }, download_files });
}

export async function addModel(o: AddModelOptions, req: NewModel): Promise<{ model: string; jobs: DownloadJob[] }> {
  if (req.files.length === 0) throw new LoadoutError('invalid', 'Name at least one file to download: {"name": "my-model", "files": [{"uri": "huggingface://owner/repo/file.gguf"}]}.');
  // Every URI and target is checked before anything is written: a refused one leaves no config behind.
  const files = req.files.map((f) => {
    const parsed = parseModelUri(f.uri, { modelsDir: o.modelsDir });
    if (parsed.kind === 'file' || parsed.kind === 'ollama') throw new LoadoutError('invalid', `${parsed.kind}:// models cannot be added this way yet; use a Hub (huggingface://) or https:// URI.`);
    if (f.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(f.sha256)) throw new LoadoutError('invalid', `sha256 of ${parsed.target} must be 64 hex digits.`);
    return { filename: parsed.target, uri: f.uri, sha256: f.sha256 };
  });
  if (o.catalog.get(req.name)) throw new LoadoutError('invalid', `A model named "${req.name}" already exists; pick another name.`);
  const file = path.join(o.modelsDir, configFileName(req.name));
  if (existsSync(file)) throw new LoadoutError('invalid', `${path.basename(file)} already exists in the models folder; pick another name (it is never overwritten).`);
  await writeFileAtomic(file, modelYaml(req.name, files));
  // The row is listed before the first byte arrives (the folder watcher would find it too, later).
  await o.catalog.scan();
  const jobs = files.map((f) => o.engine.add({ uri: f.uri, model: req.name, filename: f.filename, ...(f.sha256 ? { sha256: f.sha256.toLowerCase(), sha256Source: 'config' as const } : {}) }));
  return { model: req.name, jobs };
}
