/**
 * The composition root: wires the core's parts once and returns its commands, its events and
 * `dispose`. Nothing else constructs core classes (convention 6).
 */
import { mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { freemem, hostname } from 'node:os';
import { join } from 'node:path';
import type { CoreHandlers } from '../../shared/contract';
import { LoadoutError } from '../../shared/errors';
import { coerceSetting, dropEchoedSecrets, maskSecrets } from '../../shared/settings';
import type { BackendEntry, CoreEvent, JournalEntry, LogLine, ModelRow, Plan, RequestLogEntry, ServerStatus, Settings, Snapshot } from '../../shared/model';
import { acquireInstanceLock } from './backends/instanceLock';
import { LogStore } from './backends/logs';
import { PidRegistry } from './backends/pidRegistry';
import { LocalHostLauncher } from './backends/process';
import { BackendRegistry, BUILTIN_BACKEND } from './backends/registry';
import type { NewBackend } from './backends/registry';
import { RemoteHostLauncher } from './backends/remote';
import type { BuiltinCommand } from './backends/builtin';
import { StandbyPolicy, adoptableGpu, standbyChanges } from './backends/standbyPolicy';
import { testBackendTarget } from './backends/testTarget';
import { locateLlamaServer } from './backends/llamaServer/locate';
import { EngineBuilder } from './engineBuild';
import { LlamaServerStatusCache } from './backends/llamaServer/status';
import { Catalog } from './catalog/catalog';
import { ChatService } from './chats/chatService';
import { ChatStore } from './chats/chatStore';
import type { CatalogEntry, ModelConfig } from './catalog/types';
import { writeDemoModel } from './catalog/demoModel';
import { systemClock } from './clock';
import type { Clock } from './clock';
import { downloadAndWait, downloadCommands, notDownloadedError } from './downloads/commands';
import { DownloadEngine } from './downloads/engine';
import { addModel } from './downloads/addModel';
import { budgetOf, defaultQuant, fitOf, groupByQuant, hubFiles, hubSearch, type HubModel, type HubRepoFiles } from './downloads/hubClient';
import { Emitter } from './emitter';
import { gpuMonitorFor, type CudaPackSource } from './gpu/coreMonitor';
import { PROCESS_BASE_BYTES } from './gpu/estimate';
import { Journal } from './journal';
import { Loader } from './loader/loader';
import { redactUrl } from './cluster/protocol';
import { memoryEstimator } from './loader/memoryEstimate';
import type { ModelRouter, RequestOptions, StreamChunk } from './loader/router';
import { UsageStore } from './loader/usageStore';
import { defaultDataDir } from './paths';
import { requestLog } from './requestLog';
import { buildChatOptions, buildCompletionOptions } from './requests';
import type { ChatRequest, CompletionRequest } from './requests';
import { SettingsStore } from './settingsStore';
import { physicalCores, systemMemoryUsedFraction } from './system';
import { Watchdog } from './watchdog/watchdog';

export interface CoreOptions {
  /** Default: the per-user app data folder. */
  dataDir?: string;
  /** Where problems found after start go (the host's log); those found while starting are in `Core.notices`. */
  onNotice?: (message: string) => void;
  /** Flags for this run only (CLI). */
  overrides?: Partial<Settings>;
  /** The host's defaults, below the saved file (the desktop app's differ per platform: close_to_tray). */
  defaults?: Partial<Settings>;
  clock?: Clock;
  /** How to run the built-in backend (the desktop app passes Electron's own binary). */
  builtinCommand?: () => BuiltinCommand;
  /** Write the demo model into an empty models folder on first run (default true). */
  demoModel?: boolean;
  watchdogIntervalMs?: number;
  /** Physical cores (R6); default: read from the machine. */
  cores?: number;
  /** Where HF_ENDPOINT and HF_TOKEN are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where the CUDA pack is fetched from (V14; default: the npm registry, the pinned packages). */
  cudaPack?: CudaPackSource;
}

export type ModelPatch = Parameters<Catalog['updateConfig']>[1];

/**
 * The core's commands: the contract's (their arguments checked by `dispatch` before they get
 * here) and the ones only the core's own parts call (the HTTP API, the request log).
 */
export interface CoreCommands extends CoreHandlers {
  row(name: string): ModelRow;
  /** The model's config as parsed (what the HTTP API checks a request against before loading). */
  modelConfig(name: string): ModelConfig;
  load(name: string, opts?: RequestOptions): Promise<ModelRow>;
  /** Why a model cannot load until its file is downloaded (G36), or null. */
  downloadProblem(name: string): LoadoutError | null;
  unload(name: string, opts?: { force?: boolean }): Promise<ModelRow>;
  updateModel(name: string, patch: ModelPatch): Promise<ModelRow>;
  /** Why the saved settings file cannot be used (hosts keep the API off meanwhile), or null. */
  settingsProblem(): string | null;
  updateSettings(patch: Record<string, unknown>): Promise<Settings>;
  addBackend(entry: NewBackend): BackendEntry;
  chat(name: string, req: ChatRequest, opts?: RequestOptions): AsyncGenerator<StreamChunk>;
  complete(name: string, req: CompletionRequest, opts?: RequestOptions): AsyncGenerator<StreamChunk>;
  embed(name: string, input: string, opts?: RequestOptions): Promise<number[]>;
  tokenize(name: string, text: string, opts?: RequestOptions): Promise<number[]>;
  /** The HTTP API's recent requests (newest last) for the GUI's request log. */
  recordRequest(entry: RequestLogEntry): void;
  setServerStatus(status: ServerStatus): void;
  /** GGUF repositories on `hf_endpoint` matching `query` (G38); the token it sends is never in the answer. */
  hubSearch(query: string, signal?: AbortSignal): Promise<HubModel[]>;
  /** A Hub repository's files, and its GGUFs grouped by quantization (G38, G39). */
  hubFiles(repo: string, revision?: string, signal?: AbortSignal): Promise<HubRepoFiles>;
}

export interface Core {
  commands: CoreCommands;
  events: Emitter<CoreEvent>;
  /** What runs models (a cluster worker's gateway serves from it). */
  router: ModelRouter;
  /** Problems found while starting (bad settings file, reaped orphans); the core still runs. */
  notices: string[];
  dataDir: string;
  /** The core's time, for the parts built on it (the HTTP server's timers). */
  clock: Clock;
  /** The current models folder's download engine (a cluster worker fetches peer files with it, D29). */
  downloads(): DownloadEngine;
  /** Scans the models folder now (a worker that just published a fetched file loads it next). */
  rescan(): Promise<void>;
  dispose(): Promise<void>;
}

export async function createCore(options: CoreOptions = {}): Promise<Core> {
  const dataDir = options.dataDir ?? options.overrides?.data_dir ?? defaultDataDir();
  mkdirSync(dataDir, { recursive: true });
  // U4: one instance per data dir; refuse before touching anything else.
  const lock = acquireInstanceLock(dataDir);
  const notices: string[] = [];
  let started = false;
  // Problems found while starting are returned; later ones (a catalog bound hit, a rescan that
  // failed) would otherwise reach nobody, so they go to the host's log as they happen.
  const notice = (msg: string) => (started ? options.onNotice?.(msg) : notices.push(msg));
  const clock = options.clock ?? systemClock;
  const events = new Emitter<CoreEvent>();
  const disposers: (() => void | Promise<void>)[] = [];

  try {
    // HF_ENDPOINT / HF_TOKEN are defaults below the saved file, as in Hugging Face's own tools.
    const env = options.env ?? process.env;
    const envDefaults: Partial<Settings> = {};
    for (const [variable, key] of [['HF_ENDPOINT', 'hf_endpoint'], ['HF_TOKEN', 'hf_token']] as const) {
      const value = env[variable];
      if (!value) continue;
      const checked = coerceSetting(key, value);
      if (checked.ok) envDefaults[key] = checked.value as string;
      else notices.push(`${variable} is ignored: ${checked.error}`);
    }
    const settingsStore = new SettingsStore(dataDir, options.overrides ?? {}, { ...envDefaults, ...options.defaults });
    notices.push(...settingsStore.warnings);
    if (settingsStore.problem) notices.push(settingsStore.problem);
    const settings = () => settingsStore.get();

    const pids = new PidRegistry({ dataDir });
    const reaped = await pids.reapOrphans();
    if (reaped.killed.length > 0) notices.push(`stopped ${reaped.killed.length} backend process(es) left over from a previous run (pids ${reaped.killed.join(', ')})`);

    const logs = new LogStore({ logsDir: join(dataDir, 'logs'), clock });
    disposers.push(() => logs.dispose());
    disposers.push(logs.subscribe(null, (model, line) => events.emit({ type: 'log', model, line })));

    const llamaServerWhere = () => ({ configured: settings().llama_server_path, dataDir });
    const registry = new BackendRegistry({ dataDir, builtinCommand: options.builtinCommand, locateLlamaServer: () => locateLlamaServer(llamaServerWhere()) });
    // LOADOUT_ENGINE_PACKAGE_DIR: another node-llama-cpp package to build into (the GUI tests use a stand-in).
    const engineBuilder = new EngineBuilder({ packageDir: env.LOADOUT_ENGINE_PACKAGE_DIR || undefined, env });
    disposers.push(() => engineBuilder.dispose());
    // Clarification 9: the built-in engine's device kind, once detection knows it (null before).
    const llamaServerStatus = new LlamaServerStatusCache(llamaServerWhere, () => {
      const gpu = gpuMonitor.backendGpu();
      return gpu === 'auto' ? null : gpu !== 'cpu';
    });
    notices.push(...registry.load());

    const modelsDir = settings().models_dir;
    if (options.demoModel !== false) await writeDemoModel(dataDir, modelsDir, notices);

    const catalog = new Catalog({ modelsDir, clock, logger: notice });
    disposers.push(() => catalog.dispose());

    // Downloads land in the models folder as `.part` files the catalog never lists (G8); a
    // published file is scanned at once (G29).
    const newDownloadEngine = (dir: string): DownloadEngine => {
      const engine = new DownloadEngine({
        modelsDir: dir,
        clock,
        settings: () => {
          const s = settings();
          return {
            concurrency: Math.max(1, s.download_concurrency),
            connections: Math.max(1, s.download_connections),
            stallTimeoutMs: s.download_stall_timeout * 1000,
            retries: s.download_retries,
            resumeOnStart: s.download_resume_on_start,
            reserveBytes: s.download_reserve,
            hfEndpoint: s.hf_endpoint,
            hfToken: s.hf_token,
            ollamaRegistry: s.ollama_registry,
          };
        },
        onPublished: () => void catalog.scan().catch((e: Error) => notice(`catalog: rescan after a download failed: ${e.message}`)),
      });
      engine.events.on((job) => events.emit({ type: 'download', job }));
      return engine;
    };
    // One engine per models folder: a new folder pauses the old one's jobs (their sidecars stay
    // there) and restores the new one's.
    let downloads = newDownloadEngine(modelsDir);
    // G33: quit pauses every job with what arrived flushed, before the catalog goes.
    disposers.push(() => downloads.close());

    const journal = new Journal({ file: join(dataDir, 'journal.jsonl') });
    const usage = new UsageStore({ file: join(dataDir, 'lru.json'), clock, notice });
    const standbyChanged = standbyChanges((standby) => events.emit({ type: 'standby', standby }));
    const localLauncher: LocalHostLauncher = new LocalHostLauncher({
      logs,
      pids,
      clock,
      onStandbyChange: () => standbyChanged(localLauncher.standbyInfo()),
    });
    // Backstop after the loader's own shutdown: also ends the standby process.
    disposers.push(() => localLauncher.dispose());
    // V2: detection from an earlier run's cache, else learned from the first built-in backend.
    const gpuMonitor = gpuMonitorFor({ dataDir, settings, clock, notice, cudaPack: options.cudaPack });
    const standbyGpu = () => {
      const gpu = gpuMonitor.backendGpu();
      return localLauncher.standbyInfo() && gpu !== 'auto' && gpu !== 'cpu' ? PROCESS_BASE_BYTES[gpu] : 0;
    };
    const loader = new Loader({
      catalog: { get: (n) => catalog.get(n), list: () => catalog.list(), modelsDir: () => settings().models_dir },
      backends: { resolve: (n) => registry.resolve(n), candidatesFor: (f) => registry.candidatesFor(f ?? '') },
      launchers: { local: localLauncher, remote: new RemoteHostLauncher() },
      settings,
      clock,
      journal,
      emit: (e) => events.emit(e),
      log: (model, text) => logs.append(model, 'loadout', `${text}\n`),
      physicalCores: options.cores ?? physicalCores(),
      estimateMemory: memoryEstimator((n) => registry.resolve(n)),
      usage,
      notDownloaded: (entry) => notDownloadedError(downloads, entry),
      gpu: {
        monitor: gpuMonitor,
        standby: { vramBytes: standbyGpu, drop: () => localLauncher.dropStandby() },
        backendGpu: () => (settings().gpu === 'auto' && adoptableGpu(standby, localLauncher) === 'auto' ? 'auto' : undefined),
      },
    });
    // Everything above the loader (commands, chats, the API) sees only the router interface, so a
    // cluster router can take its place; the watchdog supervises this machine's loader itself.
    // With cluster_nats_url set, the cluster router takes the loader's place (D1); a failed join
    // says what to fix and this machine runs alone (D6).
    // Loaded only to join: NATS and the gateway's TLS code cost a single machine memory for nothing.
    const joined = settings().cluster_nats_url ? await (await import('./cluster/join')).joinCluster({ loader, settings, clock, config: (n) => catalog.get(n)?.config ?? null, emit: (e) => events.emit(e), journal: (entry) => (journal.add(entry), events.emit({ type: 'journal', entry })), notices, notice }) : null;
    const cluster = joined?.router ?? null;
    const router: ModelRouter = cluster ?? loader;

    await catalog.start();
    // G20: jobs running at the last quit resume (download_resume_on_start); paused ones stay paused.
    await downloads.start();
    disposers.push(
      catalog.onChange((changes) => {
        for (const c of changes) router.catalogChanged(c.type === 'remove' ? c.name : c.entry.name, c.type === 'remove');
        // W4: new groups, pins and ttls apply at once.
        router.enforcePolicy();
      }),
    );

    const standby = new StandbyPolicy({
      settings,
      isQuiet: () => router.isQuiet(),
      builtin: () => registry.resolve(BUILTIN_BACKEND),
      launcher: localLauncher,
      gpu: () => gpuMonitor.backendGpu(),
      env: () => gpuMonitor.backendEnv(),
    });

    const watchdog = new Watchdog({
      clock,
      intervalMs: options.watchdogIntervalMs ?? 1000,
      settings,
      upkeep: () => {
        loader.refreshMemory();
        loader.enforceLimits();
        standby.upkeep();
      },
      models: () => loader.watchView(),
      memoryUsedFraction: systemMemoryUsedFraction,
      act: (f) => {
        if (f.kind === 'stalled') void loader.unloadStalled(f.name, f.text).catch(() => {});
        else void loader.unload(f.name, { reason: f.kind === 'idle' ? 'idle' : 'reclaimer', sentence: undefined, by: null }).catch(() => {});
      },
    });
    watchdog.start();
    disposers.push(() => watchdog.dispose());

    // D34: in a cluster, a model only other nodes have is known by what their records say.
    const lookup = (name: string): CatalogEntry | undefined => catalog.get(name) ?? cluster?.remoteEntry(name) ?? undefined;
    const entryOf = (name: string): CatalogEntry => {
      const entry = lookup(name);
      if (!entry) throw new LoadoutError('not_found', `There is no model named "${name}".`);
      return entry;
    };

    /**
     * G37: with `auto_download` on, a load of a not-downloaded model fetches it first and then
     * loads it; off, the loader answers 409 `not_downloaded` (G36).
     */
    const load = async (name: string, opts?: RequestOptions): Promise<ModelRow> => {
      const entry = catalog.get(name);
      if (entry?.status === 'not_downloaded' && settings().auto_download) {
        await downloadAndWait(downloads, entry, opts?.signal);
        await catalog.scan();
      }
      return router.load(name, opts);
    };

    async function* generate(name: string, built: ReturnType<typeof buildChatOptions>, opts?: RequestOptions): AsyncGenerator<StreamChunk> {
      router.setTemplateWarning(name, built.templateWarning);
      yield* router.stream(name, built.options, opts);
    }

    // Conversations: the core owns them and their answers (a chat outlives its window).
    const chatStore = new ChatStore({ dir: join(dataDir, 'chats'), notice });
    chatStore.open();
    const chats = new ChatService({
      store: chatStore,
      emit: (e) => events.emit(e),
      notice,
      catalog: lookup,
      row: (name) => router.rowOf(name),
      load,
      tokenize: async (name, text, opts) => (await router.tokenize(name, { Prompt: text }, opts)).tokens,
      chat: (name, req, opts) => generate(name, buildChatOptions(entryOf(name), req), opts),
      clock,
    });

    const requests = requestLog(join(dataDir, 'requests.jsonl'));
    let serverStatus: ServerStatus = { listening: false, url: null, host: '127.0.0.1', port: null, error: null, apiKeySet: settings().api_key !== '' };
    
    const commands: CoreCommands = {
      snapshot: () => ({ ...router.snapshot(), settings: maskSecrets(settings()), downloads: downloads.list(), standby: localLauncher.standbyInfo(), settingsProblem: settingsStore.problem, flags: settingsStore.flagged(), cluster: commands.cluster() }),
      row: (name) => {
        entryOf(name);
        return router.rowOf(name);
      },
      modelConfig: (name) => entryOf(name).config,
      load,
      downloadProblem: (name) => {
        const entry = catalog.get(name);
        return entry?.status === 'not_downloaded' ? notDownloadedError(downloads, entry) : null;
      },
      unload: async (name, opts) => {
        await router.unload(name, { force: opts?.force, reason: 'user' });
        return router.rowOf(name);
      },
      cancelLoad: (name) => {
        entryOf(name);
        router.cancelLoad(name);
        return router.rowOf(name);
      },
      plan: (name) => router.plan(name),
      pin: async (name, pinned) => {
        await catalog.updateConfig(name, { pinned });
        router.enforcePolicy();
        return router.rowOf(name);
      },
      updateModel: async (name, patch) => {
        await catalog.updateConfig(name, patch);
        router.enforcePolicy();
        return router.rowOf(name);
      },
      // Secrets are write-only (clarifications 6): every read shows "set" or "".
      settings: () => maskSecrets(settings()),
      settingsProblem: () => settingsStore.problem,
      updateSettings: async (patch) => {
        const before = settings();
        const next = settingsStore.update(typeof patch === 'object' && patch !== null && !Array.isArray(patch) ? dropEchoedSecrets(patch) : patch);
        if (next.models_dir !== before.models_dir) {
          await downloads.close();
          downloads = newDownloadEngine(next.models_dir);
          await downloads.start();
          await catalog.setModelsDir(next.models_dir);
        }
        const shown = maskSecrets(next);
        events.emit({ type: 'settings', settings: shown, settingsProblem: settingsStore.problem, flags: settingsStore.flagged() });
        router.enforcePolicy();
        return shown;
      },
      journal: (model) => journal.list(model),
      logs: (name) => logs.lines(name),
      clearLogs: (name) => logs.clear(name),
      backends: () => registry.list(),
      addBackend: (entry) => {
        const added = registry.add(entry);
        registry.save();
        return added;
      },
      removeBackend: (name) => {
        registry.remove(name);
        registry.save();
      },
      testBackend: (target) => testBackendTarget(target),
      llamaServer: () => llamaServerStatus.status(),
      engineBuild: () => engineBuilder.status(),
      startEngineBuild: () => engineBuilder.start(),
      removeEngineBuild: () => engineBuilder.remove(),
      chat: (name, req, opts) => generate(name, buildChatOptions(entryOf(name), req), opts),
      complete: (name, req, opts) => generate(name, buildCompletionOptions(entryOf(name), req), opts),
      // The vector carries the backend's token count (`promptTokens`, 0 when it sends none) for the API's usage.
      embed: async (name, input, opts) => { const r = await router.embed(name, { Embeddings: input, Prompt: input }, opts); return Object.assign(r.embeddings, { promptTokens: r.prompt_tokens || r.tokens || 0 }); },
      tokenize: async (name, text, opts) => (await router.tokenize(name, { Prompt: text }, opts)).tokens,
      requestLog: () => requests.list(),
      recordRequest: (entry) => {
        requests.add(entry);
        events.emit({ type: 'request', entry });
      },
      serverStatus: () => serverStatus,
      setServerStatus: (status) => {
        serverStatus = status;
        events.emit({ type: 'server', status });
      },
      hubSearch: (query, signal) => hubSearch(query, { endpoint: settings().hf_endpoint, token: settings().hf_token || undefined, signal }),
      hubFiles: async (repo, revision, signal) => {
        const files = await hubFiles(repo, { endpoint: settings().hf_endpoint, token: settings().hf_token || undefined, revision, signal });
        // G39: each quantization against free memory and the disk left after download_reserve.
        const disk = await statfs(settings().models_dir).catch(() => null);
        const room = { memoryBytes: freemem(), diskBytes: disk ? Math.max(0, disk.bavail * disk.bsize - settings().download_reserve) : Number.MAX_SAFE_INTEGER };
        const groups = groupByQuant(files);
        const pick = defaultQuant(groups, budgetOf(room));
        return { repo, files, groups: groups.map((g) => ({ ...g, fit: fitOf(g.sizeBytes, room) })), defaultQuant: pick?.quant ?? null, room };
      },
      ...downloadCommands({ engine: () => downloads, catalog: (name) => catalog.get(name) }),
      addModel: (req) => addModel({ modelsDir: settings().models_dir, engine: downloads, catalog }, req),
      // Single machine until a cluster router takes over these three (cluster_nats_url).
      cluster: () => cluster?.clusterSnapshot() ?? (joined ? { frontend: settings().cluster_node_name || hostname(), nats: 'disconnected', natsUrl: redactUrl(settings().cluster_nats_url), natsError: joined.error, leader: null, nodes: [], lru: [] } : null),
      drainNode: async (node) => {
        if (!cluster) throw new LoadoutError('invalid', 'This app is not part of a cluster: set cluster_nats_url in Settings to join one');
        await cluster.drainNode(node);
      },
      unloadReplica: async (node, model) => {
        if (!cluster) throw new LoadoutError('invalid', 'This app is not part of a cluster: set cluster_nats_url in Settings to join one');
        await cluster.unloadReplica(node, model, { reason: 'user' });
      },
      ...chats.commands(),
    };

    // Clarifications 3: other frontends reach this machine's node only with cluster_share_local_node on.
    const s0 = settings();
    const shared =
      cluster && s0.cluster_local_node && s0.cluster_share_local_node
        ? await (await import('./cluster/join')).shareLocalNode({ core: { commands: { ...commands, row: (n) => loader.rowOf(n) }, events, dataDir, downloads: () => downloads, rescan: () => catalog.scan().then(() => undefined) }, loader, registry: cluster.registry, nodeName: cluster.frontend, version: process.env.npm_package_version ?? 'dev', notice })
        : null;

    let disposed: Promise<void> | null = null;
    started = true;
    return {
      commands,
      events,
      router,
      notices,
      dataDir,
      clock,
      downloads: () => downloads,
      rescan: () => catalog.scan().then(() => undefined),
      dispose: () => {
        disposed ??= (async () => {
          watchdog.dispose();
          // Answers save their partial text while their backends still run.
          await chats.dispose();
          await shared?.stop().catch(() => {});
          await router.dispose();
          usage.flush();
          for (const d of disposers.reverse()) await d();
          events.clear();
          lock.release();
        })();
        return disposed;
      },
    };
  } catch (e) {
    for (const d of disposers.reverse()) await d();
    lock.release();
    throw e;
  }
}
