/**
 * Groups: each concurrency group with its members; members that hold memory are marked, and a
 * group with more than one of them (a conflict being resolved) is highlighted.
 */
import type { ModelState } from '../../../../shared/model';
import { isOccupying } from '../../../../shared/model';
import { routeHref } from '../../router';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { stateLabel } from '../../ui/StateBadge';

function GroupCard({ group, members }: { group: string; members: string[] }) {
  // Select just what this card shows: each member's state.
  const states = useStore((s) => members.map((m) => s.models[m]?.state ?? 'unloaded').join(','));
  const list = states.split(',') as ModelState[];
  const occupying = members.filter((_, i) => isOccupying(list[i]));
  const conflict = occupying.length > 1;
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
      {!conflict && occupying.length === 1 && members.length > 1 && (
        <p className="muted">
          Loading {members.filter((m) => m !== occupying[0]).join(' or ')} unloads {occupying[0]} first.
        </p>
      )}
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
