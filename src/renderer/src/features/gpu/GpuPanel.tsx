/**
 * The GPUs (V12): per GPU backend type its devices and a VRAM bar split into Loadout's models,
 * other programs and free. Without a GPU, one quiet line says models run on the CPU; before the
 * core has said anything about GPUs (an older core), nothing.
 */
import type { GpuDevice } from '../../../../shared/model';
import { GPU_TYPE_LABEL, barPercent, formatVram, vramSplit } from '../../../../shared/gpu';
import { useStore } from '../../store/store';
import { deviceNames, noGpuLine } from './words';

export function GpuEntry({ device }: { device: GpuDevice }) {
  const split = vramSplit(device);
  const parts = [
    { key: 'loadout', label: "Loadout's models", bytes: split.loadout },
    { key: 'other', label: 'other programs', bytes: split.other },
    { key: 'free', label: 'free', bytes: split.free },
  ];
  const words = `${parts.map((p) => `${p.label} ${formatVram(p.bytes)}`).join(', ')} of ${formatVram(split.total)}`;
  return (
    <div className="gpu-entry" data-gpu={device.type}>
      <div className="gpu-name">
        <span className="badge gpu-type">{GPU_TYPE_LABEL[device.type]}</span>
        <span className="clip" title={device.names.join('\n') || undefined}>
          {deviceNames(device)}
        </span>
        {device.unified && (
          <span className="muted" title="Apple unified memory: shared with the CPU; the total is the limit macOS sets for the GPU">
            unified
          </span>
        )}
      </div>
      <div className="vram-bar" role="img" aria-label={`VRAM: ${words}`} title={words} data-testid="vram-bar">
        {parts.map((p) => (
          <span key={p.key} className={`vram-${p.key}`} style={{ width: `${barPercent(p.bytes, split.total)}%` }} />
        ))}
      </div>
      <div className="vram-legend" aria-hidden="true">
        {parts.map((p) => (
          <span key={p.key} data-part={p.key}>
            <i className={`swatch vram-${p.key}`} />
            {p.label} <strong>{formatVram(p.bytes)}</strong>
          </span>
        ))}
        <span className="muted">of {formatVram(split.total)}</span>
      </div>
    </div>
  );
}

export function GpuPanel() {
  const gpus = useStore((s) => s.gpus);
  const gpuSetting = useStore((s) => s.settings?.gpu);
  const gpuNotice = useStore((s) => s.gpuNotice);
  if (gpus === null) return null;
  const notice = gpuNotice && (
    <p className="muted" data-testid="gpu-notice">
      {gpuNotice}
    </p>
  );
  if (gpus.length === 0) {
    return (
      <>
        <p className="gpu-none muted" data-testid="no-gpu">
          {noGpuLine(gpuSetting)}
        </p>
        {notice}
      </>
    );
  }
  return (
    <section className="gpu-panel" aria-label="GPU memory" data-testid="gpu-panel">
      {gpus.map((d) => (
        <GpuEntry key={d.type} device={d} />
      ))}
      {gpuSetting === 'cpu' && <p className="muted">The gpu setting is cpu: models run on the CPU and leave the GPU alone.</p>}
      {notice}
    </section>
  );
}
