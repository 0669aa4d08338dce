/**
 * Downloads: every job with its file, progress, speed, time left and state; Pause, Resume,
 * Retry and Cancel. The list is the core's (the snapshot, then `download` events), so it is the
 * same after a reload, and after a restart for the jobs the core keeps (paused, failed, running).
 */
import type { DownloadJob } from '../../../../shared/model';
import { routeHref } from '../../router';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { jobAction } from './actions';
import { STATE_LABEL, adviceFor, formatEta, formatSpeed, isRunning, shortBytes } from './logic';

const ORDER: Record<DownloadJob['state'], number> = { downloading: 0, verifying: 0, resolving: 1, queued: 2, failed: 3, paused: 4, done: 5, cancelled: 6 };

function Bytes({ job }: { job: DownloadJob }) {
  return (
    <span data-testid="bytes">
      {shortBytes(job.receivedBytes)}
      {job.totalBytes !== null ? ` of ${shortBytes(job.totalBytes)}` : ''}
    </span>
  );
}

function JobRow({ job }: { job: DownloadJob }) {
  const pct = job.totalBytes ? Math.min(100, Math.floor((job.receivedBytes / job.totalBytes) * 100)) : null;
  const advice = adviceFor(job);
  const running = isRunning(job);
  return (
    <li className={`job job-${job.state}`} data-job={job.id} data-target={job.target} data-state={job.state}>
      <div className="job-head">
        <div className="job-name">
          <strong className="mono" title={job.uri}>
            {job.target}
          </strong>
          {job.model && (
            <span className="muted">
              {' '}
              for <a href={routeHref('models', job.model)}>{job.model}</a>
            </span>
          )}
        </div>
        <span className={`badge job-state-${job.state}`} data-testid="job-state">
          {STATE_LABEL[job.state]}
          {job.state === 'done' && job.unverified ? ' (unverified)' : ''}
        </span>
      </div>
      {job.state !== 'done' && (
        // Without a size only a running job's bar moves by itself (indeterminate); a stopped one shows what arrived.
        <progress className="job-bar" max={100} value={pct ?? (running ? undefined : 0)} aria-label={`Progress of ${job.target}`} />
      )}
      <div className="job-foot">
        <div className="job-facts">
          <Bytes job={job} />
          {pct !== null && job.state !== 'done' && <span>{pct}%</span>}
          {job.state === 'downloading' && <span data-testid="speed">{formatSpeed(job.bytesPerSec)}</span>}
          {job.state === 'downloading' && <span data-testid="eta">{formatEta(job.etaSeconds)} left</span>}
          {job.state === 'done' && job.sha256.expected && <span className="muted" title={job.sha256.expected}>sha256 checked ({job.sha256.source})</span>}
          {job.state === 'done' && job.unverified && <span className="muted">no sha256 was known: only its size was checked</span>}
        </div>
        {job.state !== 'done' && (
          <div className="job-actions">
            {running && (
              <button type="button" onClick={() => void jobAction('pauseDownload', job.id)}>
                Pause
              </button>
            )}
            {job.state === 'paused' && (
              <button type="button" className="primary" onClick={() => void jobAction('resumeDownload', job.id)}>
                Resume
              </button>
            )}
            {job.state === 'failed' && (
              <button type="button" className="primary" onClick={() => void jobAction('resumeDownload', job.id)}>
                Retry
              </button>
            )}
            <button type="button" className="danger" onClick={() => void jobAction('cancelDownload', job.id)} title="Stop it and delete what arrived">
              Cancel
            </button>
          </div>
        )}
      </div>
      {job.notice && <div className="muted job-notice">{job.notice}</div>}
      {job.error && (
        <div className="job-error" role="alert">
          <div>{job.error.message}</div>
          {job.error.sha256 && (
            <dl className="hashes">
              <dt>expected ({job.error.sha256.source})</dt>
              <dd className="mono">{job.error.sha256.expected}</dd>
              <dt>arrived</dt>
              <dd className="mono">{job.error.sha256.actual}</dd>
            </dl>
          )}
          {advice && <div className="muted">{advice}</div>}
        </div>
      )}
    </li>
  );
}

export function DownloadsView() {
  const downloads = useStore((s) => s.downloads);
  const open = useStore((s) => s.openAddModel);
  const jobs = Object.values(downloads).sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.target.localeCompare(b.target));
  return (
    <section className="view" aria-labelledby="downloads-title">
      <header className="view-head row-between">
        <div>
          <h1 id="downloads-title">Downloads</h1>
          <p className="muted">Models being fetched into the models folder. Paused downloads keep what arrived, also across restarts.</p>
        </div>
        <button type="button" className="primary" onClick={() => open(true)}>
          Add model
        </button>
      </header>
      {jobs.length === 0 ? (
        <EmptyState title="No downloads">
          <p>
            Add a model from Hugging Face with <strong>Add model</strong>: search by name, or paste <code>owner/repo</code> or a <code>huggingface://</code> URI.
          </p>
        </EmptyState>
      ) : (
        <ul className="jobs" aria-label="Downloads">
          {jobs.map((j) => (
            <JobRow key={j.id} job={j} />
          ))}
        </ul>
      )}
    </section>
  );
}
