/** One catalog row from what a scan decided about a model (C4 status and message, C6 load key). */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ModelFile, Resolved } from './modelFiles';
import type { CatalogEntry, ModelConfig } from './types';

/** A model as the scan named it, before its row is built. */
export interface Draft {
  name: string;
  config: ModelConfig;
  configPath: string | null;
  problems: string[];
  resolved: Resolved;
}

export function toEntry(d: Draft): CatalogEntry {
  const r = d.resolved;
  const problems = [...d.problems];
  let file: ModelFile | null = null;
  let uri: string | null = null;
  if (r.kind === 'file') {
    file = r.file;
    if (file.error) problems.push(file.error);
  } else if (r.kind === 'missing') {
    problems.push(r.message);
  } else if (r.kind === 'none' && !d.config.backend && problems.length === 0) {
    problems.push(
      `${d.configPath ? path.basename(d.configPath) : d.name} names no model file: set parameters.model to a file in the models folder (or set a backend).`,
    );
  } else if (r.kind === 'uri') {
    uri = r.uri;
  }
  let status: CatalogEntry['status'] = 'ok';
  let error: string | null = null;
  if (problems.length > 0) {
    status = 'error';
    error = problems.join(' ');
  } else if (d.config.disabled) {
    status = 'disabled';
  } else if (uri !== null) {
    status = 'not_downloaded';
    error = `not downloaded yet: ${uri}`;
  }
  return {
    name: d.name,
    status,
    error,
    config: d.config,
    configPath: d.configPath,
    // A model whose header is corrupt still has a file on disk (the row shows which).
    file: file?.file ?? null,
    uri,
    sizeBytes: file?.sizeBytes ?? null,
    gguf: file?.gguf ?? null,
    loadKey: loadKey(d.config, file),
  };
}

/**
 * Changes with anything that needs a reload to take effect (C6). Policy keys (pinned,
 * concurrency_groups, ttl, disabled) and per-request defaults (temperature, stopwords...) are
 * deliberately left out.
 */
export function loadKey(config: ModelConfig, file: { file: string; version: string } | null): string {
  const c = config;
  const material = JSON.stringify([
    file?.file ?? null,
    file?.version ?? null,
    c.parameters.model ?? null,
    c.parameters.seed ?? null,
    c.backend ?? null,
    c.context_size ?? null,
    c.threads ?? null,
    c.f16 ?? null,
    c.mmap ?? null,
    c.gpu_layers ?? null,
    c.mmlock ?? null,
    c.flash_attention ?? null,
    c.main_gpu ?? null,
    c.tensor_split ?? null,
    c.no_kv_offloading ?? null,
    c.embeddings ?? null,
    c.options,
    // Prompt formatting counts as a load parameter, as the templates do in C6.
    c.template ?? null,
    c.system_prompt ?? null,
    c.roles ?? null,
  ]);
  return createHash('sha1').update(material).digest('hex').slice(0, 16);
}
