/**
 * Groups: each concurrency group with its members; members that hold memory are marked, and a
 * group with more than one of them (a conflict being resolved) is highlighted. What loading a
 * member would do is the loader's own dry run (plan), never a guess made here (Trust 10).
 */
import { useEffect, useState } from 'react';
import type { ModelState, Plan } from '../../../../shared/model';
import { isOccupying } from '../../../../shared/model';
import { routeHref } from '../../router';
import { api } from '../../store/connect';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { stateLabel } from '../../ui/StateBadge';

/** The loader's plans for loading each of `names`, asked again whenever `key` changes. */
function usePlans(names: string[], key: string): Record<string, Plan> {
  const [plans, setPlans] = useState<Record<string, Plan>>({});
  useEffect(() => {
    let live = true;
    void Promise.all(names.map(async (n) => [n, await api().invoke('plan', n)] as const)).then((results) => {
      if (!live) return;
      const next: Record<string, Plan> = {};
      for (const [n, r] of results) if (r.ok) next[n] = r.value;
      setPlans(next);
    });
    return () => {
      live = false;
    };
    // `key` carries the names and everything else the plans depend on that this view knows of.
  }, [key]);
  return plans;
}

/** One line per member that is not loaded: what loading it would do, in the loader's words. */
function planLine(name: string, plan: Plan | undefined): string | null {
  if (!plan) return null;
  if (!plan.ok) return `${name} cannot load now: ${plan.failure?.message ?? 'refused'}`;
  const unloads = plan.unloads.map((u) => u.name);
  return unloads.length > 0 ? `Loading ${name} unloads ${unloads.join(' and ')} first.` : null;
}

function GroupCard({ group, members }: { group: string; members: string[] }) {
  // Select just what this card shows: each member's state.
  const states = useStore((s) => members.map((m) => s.models[m]?.state ?? 'unloaded').join(','));
  const list = states.split(',') as ModelState[];
  const occupying = members.filter((_, i) => isOccupying(list[i]));
  const conflict = occupying.length > 1;
  const idle = occupying.length > 0 ? members.filter((m) => !occupying.includes(m)) : [];
  // Plans change with any member's state or pin, and with the settings.
  const pins = useStore((s) => members.map((m) => (s.models[m]?.pinned ? 1 : 0)).join(''));
  const settingsKey = useStore((s) => JSON.stringify(s.settings));
  const plans = usePlans(idle, `${members.join(',')}|${states}|${pins}|${settingsKey}`);
  const lines = idle.map((m) => planLine(m, plans[m])).filter((l): l is string => l !== null);
  return (
    <article className={`group-card${conflict ? ' conflict' : ''}`} data-group={group} aria-label={`Group ${group}`}>
      <header>
        <h2>{group}</h2>
        {conflict ? (
          <span className="badge danger" role="alert">conflict: {occupying.join(' and ')} loaded together</span>
        ) : members.length < 2 ? (
          <span className="muted">only one member: no conflict</span>
        ) : (
          <span className="muted">one at a time</span>
        )}
      </header>
      <ul>
        {members.map((m, i) => (
          <li key={m} className={isOccupying(list[i]) ? 'resident' : ''} data-model={m}>
            <a href={routeHref('models', m)}>{m}</a> <span className={`badge state-${list[i]}`}>{stateLabel(list[i])}</span>
          </li>
        ))}
      </ul>
      {!conflict &&
        lines.map((line) => (
          <p key={line} className="muted" data-testid="group-plan">
            {line}
          </p>
        ))}
    </article>
  );
}

export function GroupsView() {
  const groups = useStore((s) => s.groups);
  const names = Object.keys(groups).sort();
  return (
    <section className="view" aria-labelledby="groups-title">
      <header className="view-head">
        <h1 id="groups-title">Concurrency groups</h1>
        <p className="muted">Models that share a group are never loaded at the same time: loading one unloads the others first.</p>
      </header>
      {names.length === 0 ? (
        <EmptyState title="No groups yet">
          <p>
            Give models a group to keep them apart, for example two big models both in <code>gpu-heavy</code>: open a model in{' '}
            <a href={routeHref('models')}>Models</a> and fill in “Concurrency groups”, or set <code>concurrency_groups</code> in its YAML.
          </p>
        </EmptyState>
      ) : (
        <div className="group-grid">
          {names.map((g) => (
            <GroupCard key={g} group={g} members={groups[g]} />
          ))}
        </div>
      )}
    </section>
  );
}
