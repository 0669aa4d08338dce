/**
 * "Add model" (downloads-spec section 5): paste a URI, a Hub page or `owner/repo`, or search the
 * Hub by name. A repository lists its GGUF quantizations with size and a fits/tight/too-big
 * verdict for this machine, one picked by default; Download writes the model's config and starts
 * the download, so its row appears at once with progress.
 */
import type { GpuDevice } from '../../../../shared/model';
import { useMemo, useState } from 'react';
import type { FormEvent } from 'react';
import type { HubModel, HubRepoFiles } from '../../../../shared/quants';
import type { ErrorData } from '../../../../shared/errors';
import { navigate } from '../../router';
import { api } from '../../store/connect';
import { useStore } from '../../store/store';
import { Dialog } from '../../ui/Dialog';
import { defaultName, downloadLabel, nameFromUri, parseSource, quantChoices, shortBytes } from './logic';

/** A stable empty list, so the selector does not make a new one per render. */
const NO_GPUS: GpuDevice[] = [];
const FIT_LABEL = { fits: 'fits', tight: 'tight', too_big: 'too big' } as const;
const FIT_TITLE = {
  fits: 'Fits in free memory and on the disk',
  tight: 'Fits, but takes most of the free memory or disk left',
  too_big: 'Needs more free memory or disk than this machine has now',
} as const;

export function AddModelDialog() {
  const open = useStore((s) => s.addModelOpen);
  return open ? <AddModel onClose={() => useStore.getState().openAddModel(false)} /> : null;
}

type Problem = { text: string; offline: boolean };
const problemOf = (e: ErrorData): Problem => ({ text: e.message, offline: e.code === 'upstream' });

function AddModel({ onClose }: { onClose: () => void }) {
  const hfEndpoint = useStore((s) => s.settings?.hf_endpoint ?? '');
  const gpus = useStore((s) => s.gpus ?? NO_GPUS);
  const [input, setInput] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [results, setResults] = useState<HubModel[] | null>(null);
  const [repo, setRepo] = useState<HubRepoFiles | null>(null);
  const [uri, setUri] = useState<string | null>(null);
  const [quant, setQuant] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [nameEdited, setNameEdited] = useState(false);
  const choices = useMemo(() => (repo ? quantChoices(repo, gpus) : null), [repo, gpus]);
  const group = choices?.groups.find((g) => g.quant === quant) ?? null;

  const run = async <T,>(what: string, call: () => Promise<{ ok: true; value: T } | { ok: false; error: ErrorData }>): Promise<T | null> => {
    setBusy(what);
    setProblem(null);
    try {
      const r = await call();
      if (!r.ok) setProblem(problemOf(r.error));
      return r.ok ? r.value : null;
    } finally {
      setBusy(null);
    }
  };

  const pickQuant = (q: string, forRepo: string) => {
    setQuant(q);
    if (!nameEdited) setName(defaultName(forRepo, q));
  };

  const openRepo = async (id: string, wanted?: string) => {
    const files = await run('Reading the repository…', () => api().invoke('hubFiles', id));
    if (!files) return;
    setRepo(files);
    setUri(null);
    const c = quantChoices(files, gpus);
    const q = c.groups.find((g) => g.quant === wanted)?.quant ?? c.pick ?? c.groups[0]?.quant ?? null;
    setQuant(q);
    if (!nameEdited && q) setName(defaultName(id, q));
    if (c.groups.length === 0) setProblem({ text: `${id} has no GGUF model files. Loadout runs GGUF models: look for a repository whose name ends in -GGUF.`, offline: false });
  };

  const find = async (e: FormEvent) => {
    e.preventDefault();
    const src = parseSource(input, hfEndpoint);
    setResults(null);
    setRepo(null);
    setUri(null);
    setProblem(null);
    if (src.kind === 'empty') return;
    if (src.kind === 'uri') {
      setUri(src.uri);
      if (!nameEdited) setName(nameFromUri(src.uri));
    } else if (src.kind === 'repo') {
      await openRepo(src.repo, src.quant);
    } else {
      const found = await run('Searching the Hub…', () => api().invoke('hubSearch', src.query));
      if (found) setResults(found);
    }
  };

  const confirm = async () => {
    const files = uri ? [{ uri }] : repo && group ? group.files.map((f) => ({ uri: `huggingface://${repo.repo}/${f.path}`, ...(f.sha256 ? { sha256: f.sha256 } : {}) })) : [];
    if (files.length === 0 || !name.trim()) return;
    const added = await run('Adding…', () => api().invoke('addModel', { name: name.trim(), files }));
    if (!added) return;
    onClose();
    navigate('models');
  };

  const ready = (uri !== null || group !== null) && name.trim() !== '' && !busy;
  const room = choices?.room;
  return (
    <Dialog
      title="Add model"
      wide
      onClose={onClose}
      actions={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="primary" disabled={!ready} onClick={() => void confirm()}>
            {busy === 'Adding…' ? busy : downloadLabel(group?.sizeBytes ?? null)}
          </button>
        </>
      }
    >
      <form className="add-find" onSubmit={(e) => void find(e)}>
        <input
          autoFocus
          type="text"
          value={input}
          onChange={(e) => setInput(e.target.value)}
          placeholder="Search the Hub, or paste owner/repo, a Hub link or a model URI"
          aria-label="Model to add"
          spellCheck={false}
        />
        <button type="submit" disabled={!!busy || input.trim() === ''}>
          {parseSource(input, hfEndpoint).kind === 'search' ? 'Search' : 'Open'}
        </button>
      </form>
      {busy && busy !== 'Adding…' && (
        <p className="muted" role="status">
          {busy}
        </p>
      )}
      {problem && (
        <div className={`add-problem ${problem.offline ? 'warn' : 'error'}`} role="alert" data-testid="add-problem">
          {/[.!?]$/.test(problem.text) ? problem.text : `${problem.text}.`}
        </div>
      )}
      {results && !repo && (
        results.length === 0 ? (
          <p className="muted">No GGUF repository matches. Try fewer words, or paste owner/repo.</p>
        ) : (
          <ul className="hub-results" aria-label="Search results">
            {results.map((m) => (
              <li key={m.id}>
                <button type="button" className="hub-result" onClick={() => void openRepo(m.id)}>
                  <span className="mono">{m.id}</span>
                  <span className="muted">{m.downloads.toLocaleString('en')} downloads</span>
                </button>
              </li>
            ))}
          </ul>
        )
      )}
      {repo && choices && choices.groups.length > 0 && (
        <>
          <div className="row-between add-repo-head">
            <span>
              {results && (
                <button type="button" className="link" onClick={() => setRepo(null)}>
                  ← results
                </button>
              )}{' '}
              <strong className="mono">{repo.repo}</strong>
            </span>
            {room && (
              <span className="muted" data-testid="room">
                {shortBytes(room.memoryBytes)} memory free{room.vramBytes !== undefined ? ` + ${shortBytes(room.vramBytes)} GPU` : ''} · {shortBytes(room.diskBytes)} disk left
              </span>
            )}
          </div>
          <table className="quants" aria-label="Quantizations">
            <thead>
              <tr>
                <th scope="col" />
                <th scope="col">Quantization</th>
                <th scope="col">Size</th>
                <th scope="col">On this machine</th>
              </tr>
            </thead>
            <tbody>
              {choices.groups.map((g) => (
                <tr key={g.quant} data-quant={g.quant} aria-selected={g.quant === quant} onClick={() => pickQuant(g.quant, repo.repo)}>
                  <td>
                    <input type="radio" name="quant" value={g.quant} checked={g.quant === quant} onChange={() => pickQuant(g.quant, repo.repo)} aria-label={g.quant} />
                  </td>
                  <td className="mono">
                    {g.quant}
                    {g.quant === choices.pick && <span className="muted"> · suggested</span>}
                    {g.files.length > 1 && <span className="muted"> · {g.files.length} parts</span>}
                  </td>
                  <td>{shortBytes(g.sizeBytes)}</td>
                  <td>
                    <span className={`badge fit-${g.fit}`} title={FIT_TITLE[g.fit]} data-testid="fit">
                      {FIT_LABEL[g.fit]}
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {uri && (
        <p className="add-uri">
          Downloads <code>{uri}</code>; its size shows once it starts.
        </p>
      )}
      {(uri || group) && (
        <label className="add-name">
          <span>Name</span>
          <input
            type="text"
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setNameEdited(true);
            }}
            aria-label="Model name"
            spellCheck={false}
          />
        </label>
      )}
    </Dialog>
  );
}
