/**
 * The conversation's model: a button that opens a list of the catalog's models, each with its
 * state (loaded, loading with progress, failed...), so the user sees what a send will cost.
 * Keyboard: arrows move (over the models that can't be picked), Enter picks, Escape closes.
 */
import { useEffect, useId, useRef, useState } from 'react';
import type { KeyboardEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { problemOf } from '../../store/selectors';
import { useStore } from '../../store/store';
import { StateBadge } from '../../ui/StateBadge';
import { pickModel } from './actions';
import { moveFocus } from './listKeys';

function Option({ name, selected, onPick }: { name: string; selected: boolean; onPick: (name: string) => void }) {
  const row = useStore((s) => s.models[name]);
  if (!row) return null;
  const problem = row.status !== 'ok' ? problemOf(row) : null;
  return (
    <li
      role="option"
      aria-selected={selected}
      aria-disabled={problem !== null}
      tabIndex={-1}
      data-model={name}
      className="picker-option"
      onClick={() => problem === null && onPick(name)}
    >
      <span className="picker-name">{name}</span>
      {problem ? <span className="picker-problem">{problem}</span> : <StateBadge row={row} />}
    </li>
  );
}

export function ModelPicker({ conversationId, model }: { conversationId: string; model: string | null }) {
  const names = useStore(useShallow((s) => s.names.filter((n) => s.models[n].status !== 'disabled')));
  const row = useStore((s) => (model ? s.models[model] : undefined));
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const id = useId();

  const options = () => [...(list.current?.querySelectorAll<HTMLElement>('[role="option"]') ?? [])];
  const disabled = (all: HTMLElement[]) => all.map((o) => o.getAttribute('aria-disabled') === 'true');

  useEffect(() => {
    if (!open) return;
    // Focus the current model (or the first that can be picked) when the list opens.
    const all = options();
    (all.find((o) => o.getAttribute('aria-selected') === 'true') ?? all[moveFocus(disabled(all), -1, 'Home') ?? 0])?.focus();
    const onDown = (e: MouseEvent) => {
      if (!list.current?.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', onDown);
    return () => document.removeEventListener('mousedown', onDown);
  }, [open]);

  const close = () => {
    setOpen(false);
    button.current?.focus();
  };
  const pick = (name: string) => {
    close();
    if (name !== model) void pickModel(conversationId, name);
  };

  const onKey = (e: KeyboardEvent<HTMLUListElement>) => {
    const all = options();
    const at = all.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp' || e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      const to = moveFocus(disabled(all), at, e.key);
      if (to !== null) all[to].focus();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if ((e.key === 'Enter' || e.key === ' ') && at >= 0) {
      e.preventDefault();
      if (all[at].getAttribute('aria-disabled') !== 'true') pick(all[at].dataset.model!);
    } else if (e.key === 'Tab') setOpen(false);
  };

  return (
    <div className="picker">
      <button
        ref={button}
        type="button"
        className="picker-button"
        aria-haspopup="listbox"
        aria-expanded={open}
        aria-controls={open ? id : undefined}
        aria-label={model ? `Model: ${model}. Change the model` : 'Pick a model'}
        onClick={() => setOpen((o) => !o)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' && !open) {
            e.preventDefault();
            setOpen(true);
          }
        }}
      >
        <span className="picker-name">{model ?? 'Pick a model'}</span>
        {row && <StateBadge row={row} />}
        {model && !row && <span className="badge danger">not in the catalog</span>}
        <span aria-hidden="true" className="chevron">▾</span>
      </button>
      {open && (
        <ul ref={list} id={id} role="listbox" aria-label="Models" className="picker-list" onKeyDown={onKey}>
          {names.length === 0 && <li className="muted pad">No models yet: add .gguf files to the models folder.</li>}
          {names.map((n) => (
            <Option key={n} name={n} selected={n === model} onPick={pick} />
          ))}
        </ul>
      )}
    </div>
  );
}
